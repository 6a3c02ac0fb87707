"""The immutable interaction data every part of the engine reads.

Built once per run; samplers, models and the evaluator share it. CSR arrays
are made read-only so nothing can edit them behind the others' backs.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

import numpy as np
import scipy.sparse as sp
import torch


def _freeze(m: sp.csr_matrix | None) -> sp.csr_matrix | None:
    if m is None:
        return None
    m = m.tocsr().astype(np.float32)
    m.sum_duplicates()
    m.sort_indices()
    m.data[:] = 1.0
    for arr in (m.data, m.indices, m.indptr):
        arr.flags.writeable = False
    return m


@dataclass(frozen=True)
class Interactions:
    """User x item implicit feedback with its train / valid / test splits.

    ``user_ids[u]`` and ``item_ids[i]`` give the raw ids of internal ids.
    ``extras`` holds optional annotations (for example injected noise pairs).
    """

    train: sp.csr_matrix
    valid: sp.csr_matrix | None
    test: sp.csr_matrix | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    name: str = "interactions"
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.user_ids), len(self.item_ids))
        for split in ("train", "valid", "test"):
            m = getattr(self, split)
            if m is not None and m.shape != shape:
                raise ValueError(f"{split} has shape {m.shape}, expected {shape}")
            object.__setattr__(self, split, _freeze(m))

    # ---- sizes ---------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_train(self) -> int:
        return int(self.train.nnz)

    # ---- derived, computed once ---------------------------------------
    @cached_property
    def item_popularity(self) -> np.ndarray:
        """Training interactions per item (float64)."""
        return np.bincount(self.train.indices, minlength=self.n_items).astype(np.float64)

    @cached_property
    def train_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All (user, item) training pairs as int64 tensors, user-major."""
        users = np.repeat(np.arange(self.n_users), np.diff(self.train.indptr))
        return torch.from_numpy(users.astype(np.int64)), torch.from_numpy(self.train.indices.astype(np.int64))

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of the three splits: the same data gives the same string."""
        h = hashlib.sha1()
        for m in (self.train, self.valid, self.test):
            if m is None:
                h.update(b"-")
            else:
                h.update(np.asarray(m.shape, dtype=np.int64).tobytes())
                h.update(m.indptr.tobytes())
                h.update(m.indices.tobytes())
        return h.hexdigest()[:12]

    def split(self, name: str) -> sp.csr_matrix | None:
        if name not in ("train", "valid", "test"):
            raise ValueError(f"unknown split {name!r}")
        return getattr(self, name)

    def merge_valid_into_train(self) -> "Interactions":
        """The papers' protocol: train on train+valid, keep test; no validation split."""
        if self.valid is None:
            return self
        merged = (self.train + self.valid).tocsr()
        return Interactions(merged, None, self.test, self.user_ids, self.item_ids,
                            self.name + "+valid", dict(self.extras))

    def with_train(self, train: sp.csr_matrix, name: str | None = None, **extras: Any) -> "Interactions":
        """A copy with another training matrix (noise injection, subsampling)."""
        return Interactions(train, self.valid, self.test, self.user_ids, self.item_ids,
                            name or self.name, {**self.extras, **extras})

    def summary(self) -> dict[str, Any]:
        def nnz(m):
            return 0 if m is None else int(m.nnz)
        return {
            "name": self.name, "users": self.n_users, "items": self.n_items,
            "train": nnz(self.train), "valid": nnz(self.valid), "test": nnz(self.test),
            "density": nnz(self.train) / max(1, self.n_users * self.n_items),
            "fingerprint": self.fingerprint,
        }

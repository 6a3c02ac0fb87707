"""Noise injection: corrupt a dataset's training split to study robust training.

Modes (``rho`` = ratio, ``n_u = floor(rho * |train_u|)``):

- ``add`` (the PLD protocol, WWW 2025): add ``n_u`` random items to user u's
  training set. Injected items are never items the user has in train, valid or
  test, so the clean evaluation splits stay untouched and untainted.
- ``replace``: swap ``n_u`` of the user's observed training positives for
  ``n_u`` random unobserved items (label flipping at constant training size).
- ``remove``: drop ``n_u`` observed training positives (missing positives).

The corruption is recorded in ``Interactions.extras["noise"]`` (a ``NoiseRecord``:
injected and removed pairs as arrays) so analyses can tell noisy from normal
interactions. The same seed gives the same corruption.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from .config import NoiseConfig
from .interactions import Interactions

NoiseMode = Literal["add", "replace", "remove"]


@dataclass(frozen=True)
class NoiseRecord:
    """What was corrupted: injected (noisy) pairs and removed (true) pairs, as int64 arrays."""

    mode: str
    ratio: float
    seed: int
    users: np.ndarray
    items: np.ndarray
    removed_users: np.ndarray
    removed_items: np.ndarray

    @property
    def n_injected(self) -> int:
        return int(len(self.users))

    def injected_matrix(self, shape: tuple[int, int]) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(len(self.users), np.float32), (self.users, self.items)), shape=shape)


def _observed(data: Interactions) -> sp.csr_matrix:
    """Every (user, item) the user has in any split."""
    total = data.train.copy()
    for m in (data.valid, data.test):
        if m is not None:
            total = total + m
    total = total.tocsr()
    total.sum_duplicates()
    total.sort_indices()
    return total


def _sample_unobserved(observed: sp.csr_matrix, need: np.ndarray, rng: np.random.Generator,
                       rounds: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """For each user u draw ``need[u]`` distinct items outside ``observed[u]``, uniformly.

    Vectorised rejection: draw candidates for every missing slot, drop observed
    ones, keep the distinct rest; users still short after a few rounds (very
    long histories) are finished exactly from their complement. Taking a random
    subset of the distinct valid draws keeps every subset equally likely.
    """
    n_users, n_items = observed.shape
    free = n_items - np.diff(observed.indptr)
    need = np.minimum(need, free)
    obs_keys = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(observed.indptr)) * n_items \
        + observed.indices.astype(np.int64)  # sorted, as the CSR is sorted
    found = np.empty(0, np.int64)
    for _ in range(rounds):
        have = np.bincount(found // n_items, minlength=n_users) if len(found) else np.zeros(n_users, np.int64)
        short = need - have
        if (short <= 0).all():
            break
        users = np.repeat(np.arange(n_users, dtype=np.int64), np.maximum(short, 0) * 2)
        keys = users * n_items + rng.integers(0, n_items, len(users))
        pos = np.searchsorted(obs_keys, keys)
        hit = (pos < len(obs_keys)) & (obs_keys[np.minimum(pos, len(obs_keys) - 1)] == keys)
        found = np.union1d(found, keys[~hit])
    have = np.bincount(found // n_items, minlength=n_users) if len(found) else np.zeros(n_users, np.int64)
    extra = []
    for u in np.nonzero(have < need)[0]:  # rare: exact draw from the complement
        taken = found[(found // n_items) == u] % n_items
        row = observed.indices[observed.indptr[u]:observed.indptr[u + 1]]
        comp = np.setdiff1d(np.arange(n_items), np.concatenate([row, taken]))
        extra.append(u * n_items + rng.choice(comp, need[u] - have[u], replace=False))
    if extra:
        found = np.union1d(found, np.concatenate(extra))
    # random subset of need[u] among each user's distinct draws
    users = found // n_items
    order = np.lexsort((rng.random(len(found)), users))
    found, users = found[order], users[order]
    first = np.searchsorted(users, np.arange(n_users))
    rank = np.arange(len(found)) - first[users]
    keep = rank < need[users]
    return users[keep], found[keep] % n_items


def _choose_observed(train: sp.csr_matrix, need: np.ndarray, rng: np.random.Generator
                     ) -> np.ndarray:
    """Boolean mask over the CSR entries: ``need[u]`` random entries of each row."""
    rows = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    order = np.lexsort((rng.random(train.nnz), rows))
    rank = np.empty(train.nnz, np.int64)
    rank[order] = np.arange(train.nnz) - train.indptr[rows[order]]
    return rank < need[rows]


def inject_noise(data: Interactions, config: NoiseConfig) -> Interactions:
    """A copy of ``data`` whose training split is corrupted as ``config`` says."""
    rng = np.random.default_rng(config.seed)
    train = data.train
    degree = np.diff(train.indptr)
    need = np.floor(config.ratio * degree + 1e-9).astype(np.int64)
    empty = np.empty(0, np.int64)
    rem_u = rem_i = empty
    keep = np.ones(train.nnz, bool)
    if config.mode in ("replace", "remove"):
        need = np.minimum(need, degree)
        drop = _choose_observed(train, need, rng)
        rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), degree)
        rem_u, rem_i = rows[drop], train.indices[drop].astype(np.int64)
        keep = ~drop
    add_u = add_i = empty
    if config.mode in ("add", "replace"):
        # never inject an item the user has anywhere (removed positives included)
        add_u, add_i = _sample_unobserved(_observed(data), need, rng)
    rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), degree)
    users = np.concatenate([rows[keep], add_u])
    items = np.concatenate([train.indices[keep].astype(np.int64), add_i])
    new_train = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=train.shape)
    record = NoiseRecord(config.mode, config.ratio, config.seed, add_u, add_i, rem_u, rem_i)
    name = f"{data.name}+noise-{config.mode}{config.ratio:g}"
    return data.with_train(new_train, name=name, noise=record)


def noise_record(data: Interactions) -> NoiseRecord | None:
    rec = data.extras.get("noise") if data.extras else None
    return rec if isinstance(rec, NoiseRecord) else None


def injected_mask(data: Interactions) -> np.ndarray | None:
    """Per training pair (in ``data.train_pairs`` order): True where it was injected."""
    rec = noise_record(data)
    if rec is None:
        return None
    rows = np.repeat(np.arange(data.n_users, dtype=np.int64), np.diff(data.train.indptr))
    keys = rows * data.n_items + data.train.indices.astype(np.int64)
    noisy = np.sort(rec.users * data.n_items + rec.items)
    return np.isin(keys, noisy, assume_unique=False)

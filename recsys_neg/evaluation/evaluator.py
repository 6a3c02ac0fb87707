"""Full-ranking evaluation: every item is a candidate except the ones the user was trained on.

Inside one ``model.ranking()`` block, per batch of users the work is one
``rank(users)`` call, a masked fill of the known items, ``torch.topk`` and a
vectorised relevance lookup; the metrics then run on the small [B, Kmax] hit
matrix. Anything with a ``ranking()`` context manager can be evaluated.

On request (and by default only when ``extras`` is left on: the trainer's validations turn
it off) the same ranking pass also yields catalogue-level beyond-accuracy metrics of the
top-K lists (``beyond.py``) and sampled metrics (``sampled.py``), kept apart from the
full-ranking means. Every result carries the top-K lists themselves (``top_items``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ..data.interactions import Interactions
from ..errors import ConfigError, TrainingError
from . import sampled as sampled_metrics
from .beyond import beyond_accuracy, describe_groups
from .metrics import compute_metrics, metric_name, parse_metrics
from .options import BeyondAccuracyOptions, SampledOptions

DEFAULT_METRICS = ("recall", "ndcg", "precision", "hit", "mrr", "map")


@dataclass
class EvalResult:
    """Means over the evaluated users plus the per-user values behind them.

    ``metrics``: full-ranking means only. ``per_user`` also holds the sampled metrics' per-user
    values when they were asked for (their names say ``sampled<N>_``); ``sampled`` their means.
    ``beyond``: catalogue-level metrics of the lists (no per-user values), ``beyond_info`` where
    the head and popularity buckets fall. ``top_items[j]``: user ``users[j]``'s top Kmax items
    (internal indices, best first; -1 in a place whose score was -inf: masked, or unscored by a list).
    """

    split: str
    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    n_users_skipped: int
    seconds: float
    top_items: np.ndarray | None = None
    beyond: dict[str, float] = field(default_factory=dict)
    beyond_info: dict = field(default_factory=dict)
    sampled: dict[str, float] = field(default_factory=dict)
    sampled_info: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return int(len(self.users))

    def __getitem__(self, name: str) -> float:
        return self.metrics[name]

    def to_dict(self) -> dict:
        out = {
            "split": self.split,
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "n_users": self.n_users,
            "skipped": int(self.n_users_skipped),
            "seconds": float(self.seconds),
        }
        if self.beyond:
            out["beyond_accuracy"] = {"metrics": dict(self.beyond), "settings": self.beyond_info}
        if self.sampled:
            out["sampled"] = {"metrics": dict(self.sampled), "settings": self.sampled_info}
        return out

    def per_user_frame(self) -> pd.DataFrame:
        """One row per evaluated user, for paired significance tests between runs."""
        return pd.DataFrame({"user": self.users, **self.per_user})


class _CSRTensors:
    """A CSR matrix as torch (crow, col) tensors, copied once per device."""

    def __init__(self, m: sp.csr_matrix):
        self._crow = torch.from_numpy(m.indptr.astype(np.int64))
        self._col = torch.from_numpy(m.indices.astype(np.int64))
        self._on: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._on:
            self._on[device] = (self._crow.to(device), self._col.to(device))
        return self._on[device]

    def rows(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(batch row, column) of every entry in the given rows, batch-row-major, and the row lengths."""
        crow, col = self.on(users.device)
        start = crow[users]
        length = crow[users + 1] - start
        total = int(length.sum())
        batch_row = torch.repeat_interleave(
            torch.arange(len(users), device=users.device), length, output_size=total)
        # entry j of the concatenation sits at start[row] + (j - first index of row in the concatenation)
        shift = start - (length.cumsum(0) - length)
        pos = torch.arange(total, device=users.device) + shift[batch_row]
        return batch_row, col[pos], length


class Evaluator:
    """Full-ranking top-K evaluation of a model on the valid or test split.

    Training items are never ranked; on ``test`` the valid items are excluded
    too. Users without items in the evaluated split are skipped and counted.
    Work runs on the ranker's device.
    """

    def __init__(
        self,
        interactions: Interactions,
        ks: Iterable[int] = (10, 20, 50),
        metrics: Iterable[str] = DEFAULT_METRICS,
        batch_size: int = 4096,
        device: str | torch.device = "cpu",
        beyond_accuracy: BeyondAccuracyOptions | bool | dict | None = None,
        sampled: SampledOptions | dict | None = None,
    ):
        self.interactions = interactions
        self.specs = parse_metrics(metrics, ks)
        self.ks = tuple(sorted({k for _, k in self.specs}))
        self.kmax = self.ks[-1]
        if self.kmax > interactions.n_items:
            raise ConfigError(
                f"eval K={self.kmax} is larger than the number of items ({interactions.n_items})")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"eval batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.names = [metric_name(m, k) for m, k in self.specs]
        self.beyond_options = (None if beyond_accuracy in (None, False)
                               else BeyondAccuracyOptions.model_validate(beyond_accuracy))
        self.sampled_options = None if sampled is None else SampledOptions.model_validate(sampled)
        if self.sampled_options is not None and self.sampled_options.negatives < self.kmax:
            raise ConfigError(f"eval.sampled.negatives={self.sampled_options.negatives} must be at least the "
                              f"largest K ({self.kmax}): a relevant item ranked among N sampled items has a "
                              f"rank of at most N + 1")
        self._cache: dict[str, tuple[_CSRTensors, _CSRTensors, np.ndarray]] = {}

    def _split_tensors(self, split: str) -> tuple[_CSRTensors, _CSRTensors, np.ndarray]:
        """(known items to mask, relevant items, relevant count per user) for a split, built once."""
        if split not in self._cache:
            data = self.interactions
            if split not in ("valid", "test"):
                raise ConfigError(f"eval split must be 'valid' or 'test', got {split!r}")
            target = data.split(split)
            if target is None:
                raise ConfigError(f"the data {data.name!r} has no {split} split to evaluate on")
            known = data.train
            if split == "test" and data.valid is not None:
                known = (data.train + data.valid).tocsr()
                known.sum_duplicates()
            n_rel = np.diff(target.indptr).astype(np.int64)
            self._cache[split] = (_CSRTensors(known), _CSRTensors(target), n_rel)
        return self._cache[split]

    def evaluate(self, model, split: str = "valid",
                 users: Iterable[int] | np.ndarray | None = None, extras: bool = True) -> EvalResult:
        """Rank all items for every user (or ``users``) with items in ``split``.

        ``EvalResult.users`` is sorted and free of duplicates; ``per_user`` follows it.
        ``extras=False`` skips the beyond-accuracy and sampled metrics even when configured.
        """
        t0 = time.perf_counter()
        known, target, n_rel_all = self._split_tensors(split)
        n_users = self.interactions.n_users
        if users is None:
            candidates = np.arange(n_users, dtype=np.int64)
        else:
            if isinstance(users, torch.Tensor):
                users = users.cpu().numpy()
            elif not isinstance(users, np.ndarray):
                users = list(users)
            candidates = np.unique(np.asarray(users, dtype=np.int64))
            if len(candidates) and (candidates[0] < 0 or candidates[-1] >= n_users):
                raise ValueError(f"eval users must lie in [0, {n_users})")
        eval_users = candidates[n_rel_all[candidates] > 0]

        sampling = self.sampled_options if extras else None
        names = self.names + (sampled_metrics.metric_names(sampling.negatives, self.ks) if sampling else [])
        chunks: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        tops: list[torch.Tensor] = []
        with model.ranking() as rank, torch.no_grad():
            all_users = torch.from_numpy(eval_users).to(rank.device)
            generator = None
            if sampling is not None:
                generator = torch.Generator(device=rank.device).manual_seed(sampling.seed)
            for lo in range(0, len(all_users), self.batch_size):
                values, top = self._batch(rank, all_users[lo:lo + self.batch_size], known, target,
                                          sampling, generator)
                tops.append(top.cpu())
                for name, v in values.items():
                    chunks[name].append(v)

        per_user = {
            name: (torch.cat(parts).double().cpu().numpy() if parts else np.zeros(0))
            for name, parts in chunks.items()
        }
        means = {name: (float(v.mean()) if len(v) else float("nan")) for name, v in per_user.items()}
        top_items = torch.cat(tops).numpy() if tops else np.zeros((0, self.kmax), np.int64)
        result = EvalResult(
            split=split, metrics={n: means[n] for n in self.names}, per_user=per_user, users=eval_users,
            n_users_skipped=int(len(candidates) - len(eval_users)),
            seconds=0.0, top_items=top_items,
        )
        if sampling is not None:
            result.sampled = {n: means[n] for n in names[len(self.names):]}
            result.sampled_info = {"negatives": sampling.negatives, "seed": sampling.seed,
                                   "candidates": "uniform without replacement over the user's non-relevant, "
                                                 "unmasked items; one draw per user; ties count against the "
                                                 "relevant item"}
        if extras and self.beyond_options is not None:
            self._beyond(result, split)
        result.seconds = time.perf_counter() - t0
        return result

    def _beyond(self, result: EvalResult, split: str) -> None:
        data, opts = self.interactions, self.beyond_options
        relevant = data.split(split)[result.users]
        result.beyond = beyond_accuracy(result.top_items, data.item_popularity, self.ks, data.n_users,
                                        relevant, opts)
        result.beyond_info = {**describe_groups(data.item_popularity, opts), "users": result.n_users,
                              "popularity": "training interactions per item"}

    def _batch(self, rank, users: torch.Tensor, known: _CSRTensors, target: _CSRTensors,
               sampling: SampledOptions | None = None, generator: torch.Generator | None = None
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-user metric values of a batch, and its top-Kmax items (-1 where the score is -inf)."""
        scores = rank(users)
        if scores.shape != (len(users), self.interactions.n_items):
            raise ValueError(f"ranking returned shape {tuple(scores.shape)}, "
                             f"expected ({len(users)}, {self.interactions.n_items})")
        if not scores.is_floating_point():
            scores = scores.float()
        users = users.to(scores.device)
        rows, cols, _ = known.rows(users)
        # the model may hand back a view of its own state (a cached score table): never write into it
        if scores._base is not None:
            scores = scores.clone()
        scores.index_put_((rows, cols), torch.tensor(float("-inf"), device=scores.device))

        top_vals, top_idx = torch.topk(scores, self.kmax, dim=1)
        if torch.isnan(top_vals).any():  # topk ranks NaN first, so one NaN anywhere in a row shows here
            raise TrainingError("the model produced NaN scores; evaluation is meaningless")

        # relevance lookup: CSR entries as sorted keys row * n_items + item, then searchsorted
        n_items = self.interactions.n_items
        rel_rows, rel_cols, n_rel = target.rows(users)
        keys = rel_rows * n_items + rel_cols
        query = torch.arange(len(users), device=users.device).unsqueeze(1) * n_items + top_idx
        pos = torch.searchsorted(keys, query).clamp(max=max(len(keys) - 1, 0))
        hits = keys[pos] == query
        filled = top_vals != float("-inf")
        hits &= filled  # a masked item is never a hit, even if it is also in the target
        values = compute_metrics(hits, n_rel, self.specs)
        if sampling is not None:
            # sampled items come from the full ranking's candidates that are not relevant
            candidates = sampled_metrics.sample_candidates(
                torch.cat([rows, rel_rows]), torch.cat([cols, rel_cols]), len(users), n_items,
                sampling.negatives, generator)
            ranks = sampled_metrics.sampled_ranks(scores, candidates, rel_rows, rel_cols)
            values.update(sampled_metrics.per_user_metrics(ranks, rel_rows, n_rel, sampling.negatives, self.ks))
        return values, torch.where(filled, top_idx, torch.full_like(top_idx, -1))

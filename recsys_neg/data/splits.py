"""Per-user train / valid / test splits on a DataFrame of internal ids.

All methods share one vectorised scheme: rank each user's rows by a key
(random, or newest first), send the first ``n_test`` ranks to test, the next
``n_valid`` to valid and the rest to train. Users too small to keep at least
one training row keep everything in train.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .config import SplitConfig

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "valid", "test")


def _rank_within_user(users: np.ndarray, newest_first: np.ndarray | None,
                      rng: np.random.Generator) -> np.ndarray:
    """Rank of each row inside its user's rows; ties (or no key) broken at random."""
    perm = rng.permutation(len(users))
    if newest_first is None:
        order = perm[np.argsort(users[perm], kind="stable")]
    else:  # lexsort is stable, so the shuffle decides ties
        order = perm[np.lexsort((-newest_first[perm], users[perm]))]
    counts = np.bincount(users)
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]
    return rank


def _per_user(counts: np.ndarray, ratio: float, loo: bool) -> np.ndarray:
    if ratio == 0:
        return np.zeros_like(counts)
    if loo:
        return np.ones_like(counts)
    return np.maximum(1, np.rint(counts * ratio)).astype(np.int64)


def split_labels(df: pd.DataFrame, cfg: SplitConfig) -> np.ndarray:
    """TRAIN / VALID / TEST per row of ``df`` (columns user, item, [timestamp], [split])."""
    if cfg.method == "given":
        if "split" not in df:
            raise DataError("split.method 'given' needs split files; this source has a single file")
        return df["split"].to_numpy(np.int8)
    users = df["user"].to_numpy(np.int64)
    if len(users) == 0:
        return np.zeros(0, dtype=np.int8)
    has_time = "timestamp" in df
    if cfg.method == "temporal" and not has_time:
        raise DataError("split.method 'temporal' needs timestamps, and this data has none "
                        "(table sources: set timestamp_col; or use 'random' / 'loo')")
    key = df["timestamp"].to_numpy() if has_time and cfg.method != "random" else None
    rank = _rank_within_user(users, key, np.random.default_rng(cfg.seed))
    counts = np.bincount(users)
    loo = cfg.method == "loo"
    n_test = _per_user(counts, cfg.test_ratio, loo)
    n_valid = _per_user(counts, cfg.valid_ratio, loo)
    eligible = counts > n_test + n_valid  # at least one row stays in train
    r, u = rank, users
    labels = np.full(len(users), TRAIN, dtype=np.int8)
    labels[eligible[u] & (r < n_test[u])] = TEST
    labels[eligible[u] & (r >= n_test[u]) & (r < n_test[u] + n_valid[u])] = VALID
    return labels


def split_indices(df: pd.DataFrame, cfg: SplitConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions of train, valid and test (each sorted)."""
    labels = split_labels(df, cfg)
    return tuple(np.flatnonzero(labels == s) for s in (TRAIN, VALID, TEST))  # type: ignore[return-value]

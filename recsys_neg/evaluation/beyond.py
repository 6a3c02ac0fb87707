"""Beyond-accuracy metrics: what the top-K lists of ALL evaluated users do to the catalogue.

They are properties of the set of lists, not means of per-user values, so they are not
``METRICS`` entries (which see one user's hit row) and have no per-user column. Inputs: a
top-K matrix ``top`` [users, Kmax] of item indices, best first, ``-1`` for an empty slot
(an item the evaluator masked when a list was short), and the training popularity
``pop[i]`` = training interactions of item i (= users who interacted, the data being
binary). Every recommended slot counts once ("recommendations" below = the non-empty
slots of the top K of every list, pooled):

- ``coverage@K``:  distinct recommended items / n_items (catalogue coverage).
- ``gini@K``:      Gini index of exposure: item i's exposure c_i = lists whose top K hold i,
                   over ALL items (unrecommended ones count with 0); with c sorted ascending,
                   G = sum_i (2i - n - 1) c_i / (n sum_i c_i), i = 1..n. 0 = every item equally
                   exposed, (n - 1) / n = one item in every slot.
- ``avg_pop@K``:   mean training popularity of the recommendations (ARP, Abdollahpouri et al.,
                   FLAIRS 2019, pooled over slots rather than averaged per user).
- ``long_tail@K``: share of recommendations outside the head. The head: items by popularity
                   (descending; ties by item index), taken while the interactions of the items
                   before them are below ``head_share`` of all training interactions (so the
                   item that crosses the line is head).
- ``novelty@K``:   mean self-information -log2(pop_i / n_users) of the recommendations (Zhou et
                   al., PNAS 2010); an item unseen in training counts as seen once.
- ``recall_pop<b>@K``: recall of the relevant (user, item) pairs whose item is in popularity
                   bucket b, pooled: hits among them / their number. Buckets split the items in
                   the same popularity order into ``buckets`` groups holding equal shares of the
                   training interactions (bucket 1: the few most popular items). NaN when a
                   bucket holds no relevant pair.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import scipy.sparse as sp

from .options import BeyondAccuracyOptions

NAMES = ("coverage", "gini", "avg_pop", "long_tail", "novelty")


def _order_and_before(pop: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    counts = np.rint(np.asarray(pop, dtype=np.float64)).astype(np.int64)
    order = np.argsort(-counts, kind="stable")  # most popular first, ties by item index
    before = np.empty_like(counts)
    before[order] = np.cumsum(counts[order]) - counts[order]  # interactions of the items ahead of each
    return order, before, int(counts.sum())


def head_items(pop: np.ndarray, head_share: float) -> np.ndarray:
    """Boolean mask of the head (see the module docstring)."""
    _, before, total = _order_and_before(pop)
    return before < head_share * total if total > 0 else np.ones(len(before), bool)


def popularity_buckets(pop: np.ndarray, n_buckets: int) -> np.ndarray:
    """Bucket (0 = most popular) of every item: equal shares of the training interactions."""
    _, before, total = _order_and_before(pop)
    if total == 0:
        return np.zeros(len(before), np.int64)
    return np.minimum(before * n_buckets // total, n_buckets - 1)


def gini(exposure: np.ndarray) -> float:
    c = np.sort(np.asarray(exposure, dtype=np.float64))
    n, total = len(c), c.sum()
    if n == 0 or total == 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * c).sum() / (n * total))


def _hits(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """hits[u, r]: the item at rank r+1 of list u is relevant to u (row u of ``relevant``)."""
    rel = relevant.tocsr()
    rel.sort_indices()
    n_items = rel.shape[1]
    rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    keys = rows * n_items + rel.indices
    query = np.arange(len(top), dtype=np.int64)[:, None] * n_items + np.maximum(top, 0)
    pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    return (keys[pos] == query) & (top >= 0) if len(keys) else np.zeros(top.shape, bool)


def beyond_accuracy(top: np.ndarray, item_popularity: np.ndarray, ks: Iterable[int], n_users: int,
                    relevant: sp.csr_matrix | None = None,
                    options: BeyondAccuracyOptions | None = None) -> dict[str, float]:
    """The metrics above for every K in ``ks`` (each <= top's width), from any top-K matrix.

    ``relevant`` (rows aligned with ``top``'s, columns = items) enables ``recall_pop<b>@K``.
    """
    opts = options or BeyondAccuracyOptions()
    top = np.asarray(top, dtype=np.int64)
    pop = np.asarray(item_popularity, dtype=np.float64)
    n_items = len(pop)
    if top.ndim != 2:
        raise ValueError(f"top must be [users, K], got shape {top.shape}")
    if relevant is not None and relevant.shape != (len(top), n_items):
        raise ValueError(f"relevant must be [{len(top)}, {n_items}], got {relevant.shape}")
    head = head_items(pop, opts.head_share)
    bucket = popularity_buckets(pop, opts.buckets)
    info = -np.log2(np.maximum(pop, 1.0) / max(n_users, 1))
    hits = _hits(top, relevant) if relevant is not None else None
    rel_per_bucket = (np.bincount(bucket[relevant.tocsr().indices], minlength=opts.buckets)
                      if relevant is not None else None)
    out: dict[str, dict[int, float]] = {}
    for k in sorted(set(ks)):
        if k > top.shape[1]:
            raise ValueError(f"K={k} exceeds the top-K width {top.shape[1]}")
        lists = top[:, :k]
        recs = lists[lists >= 0]
        exposure = np.bincount(recs, minlength=n_items)
        nan = float("nan")
        values = {
            "coverage": float((exposure > 0).sum() / n_items),
            "gini": gini(exposure),
            "avg_pop": float(pop[recs].mean()) if len(recs) else nan,
            "long_tail": float((~head[recs]).mean()) if len(recs) else nan,
            "novelty": float(info[recs].mean()) if len(recs) else nan,
        }
        if hits is not None:
            hit_items = lists[hits[:, :k]]
            found = np.bincount(bucket[hit_items], minlength=opts.buckets)
            for b in range(opts.buckets):
                values[f"recall_pop{b + 1}"] = (float(found[b] / rel_per_bucket[b]) if rel_per_bucket[b]
                                                else nan)
        for name, v in values.items():
            out.setdefault(name, {})[k] = v
    return {f"{name}@{k}": v for name, per_k in out.items() for k, v in per_k.items()}


def describe_groups(item_popularity: np.ndarray, options: BeyondAccuracyOptions | None = None) -> dict:
    """Where the head and the buckets fall, for the record next to the metrics."""
    opts = options or BeyondAccuracyOptions()
    pop = np.asarray(item_popularity, dtype=np.float64)
    head = head_items(pop, opts.head_share)
    bucket = popularity_buckets(pop, opts.buckets)
    return {
        "head_share": opts.head_share, "head_items": int(head.sum()), "items": int(len(pop)),
        "buckets": [{"bucket": b + 1, "items": int((bucket == b).sum()),
                     "min_pop": float(pop[bucket == b].min()) if (bucket == b).any() else None,
                     "max_pop": float(pop[bucket == b].max()) if (bucket == b).any() else None}
                    for b in range(opts.buckets)],
    }


__all__ = ["NAMES", "beyond_accuracy", "describe_groups", "gini", "head_items", "popularity_buckets"]

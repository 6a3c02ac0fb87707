"""The built-in dataset: implicit feedback from a latent-factor model.

Users and items get normal latent vectors; items also get a power-law
popularity. User ``u`` picks ``k_u`` distinct items with probability
proportional to ``exp(u.v / temperature + popularity_exponent * log pop)``,
sampled exactly with the Gumbel top-k trick, so a dot-product model has real
signal to learn beyond popularity.

Exact sampling scores every (user, item) cell: fine up to ~10⁹ cells (a
Gowalla-sized 40k x 40k catalogue takes about a minute), hopeless at 4x10⁵ users
x 10⁶ items (4x10¹¹ cells, hours). Above ``EXACT_MAX_CELLS`` each user instead
draws candidates from the popularity prior (``exp(popularity_exponent * log
pop)``, with replacement) and keeps the Gumbel top-k of ``u.v / temperature``
among its distinct candidates: sampling-importance-resampling with the prior as
proposal. It is approximate, not exact: items that are unpopular but close to
the user are under-drawn (fewer candidates reach them), so the latent signal is
weaker than the exact generator's. Sizes below the threshold keep the exact
path, draw for draw.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from ...registry import Params
from .base import SOURCES, DataSource


class SyntheticSource(Params):
    """The built-in generated dataset."""

    n_users: int = Field(2000, ge=1)
    n_items: int = Field(1500, ge=3)
    dim: int = Field(16, ge=1)
    mean_interactions: float = Field(40.0, gt=0)
    popularity_exponent: float = Field(1.0, ge=0)  # Zipf exponent of item popularity
    temperature: float = Field(0.4, gt=0)  # lower = more personal, less random
    seed: int = 0

_MAX_CATALOGUE_FRACTION = 0.2  # no user interacts with more than this share of items
_ACTIVITY_SIGMA = 0.8  # lognormal spread of user activity
_CHUNK_CELLS = 4_000_000  # user x item scores held in memory at once
EXACT_MAX_CELLS = 2_000_000_000  # users x items above which candidates replace the exact draw
_CANDIDATES = 512  # per user (at least 4x its interaction count) in the candidate path


def generate_synthetic(cfg: SyntheticSource | None = None) -> pd.DataFrame:
    """DataFrame(user, item, timestamp), sorted by user then time; deterministic by seed."""
    cfg = cfg or SyntheticSource()
    rng = np.random.default_rng(cfg.seed)
    n_users, n_items = cfg.n_users, cfg.n_items
    # scale so u.v has unit variance whatever the dimension
    scale = cfg.dim ** -0.25
    user_f = rng.normal(0.0, scale, (n_users, cfg.dim)).astype(np.float32)
    item_f = rng.normal(0.0, scale, (n_items, cfg.dim)).astype(np.float32)
    # Zipf-like popularity over a random ranking of the items
    log_pop = -np.log1p(rng.permutation(n_items)).astype(np.float32)
    item_bias = cfg.popularity_exponent * log_pop

    cap = max(3, int(_MAX_CATALOGUE_FRACTION * n_items))
    mu = np.log(cfg.mean_interactions) - _ACTIVITY_SIGMA ** 2 / 2  # mean of the lognormal = target
    k = np.clip(np.rint(rng.lognormal(mu, _ACTIVITY_SIGMA, n_users)), 3, cap).astype(np.int64)

    pick = _pick_exact if n_users * n_items <= EXACT_MAX_CELLS else _pick_from_candidates
    item = pick(rng, user_f, item_f, item_bias, k, cfg.temperature)
    user = np.repeat(np.arange(n_users), k)

    # each user's interactions happen in random order at increasing times
    start = rng.integers(1_500_000_000, 1_600_000_000, n_users)
    gaps = rng.exponential(3600.0, len(user)).astype(np.int64) + 1
    item = item[np.lexsort((rng.random(len(user)), user))]
    elapsed = np.cumsum(gaps)
    first = np.cumsum(k) - k
    within = elapsed - np.repeat(elapsed[first] - gaps[first], k)  # restart the clock per user
    timestamp = start[user] + within
    return pd.DataFrame({"user": user, "item": item.astype(np.int64), "timestamp": timestamp})


def _top_k_rows(scores: np.ndarray, columns: np.ndarray | None, k: np.ndarray) -> np.ndarray:
    """Per row, the columns of its k_u highest scores in decreasing order, concatenated."""
    kmax = int(k.max())
    top = np.argpartition(-scores, kmax - 1, axis=1)[:, :kmax]
    # order the candidates so the first k_u of each row are its top k_u
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)
    if columns is not None:
        top = np.take_along_axis(columns, top, 1)
    return top[np.arange(kmax) < k[:, None]]


def _pick_exact(rng, user_f, item_f, item_bias, k, temperature) -> np.ndarray:
    n_users, n_items = len(user_f), len(item_f)
    chunk = max(1, _CHUNK_CELLS // n_items)
    items = []
    for lo in range(0, n_users, chunk):
        hi = min(n_users, lo + chunk)
        scores = user_f[lo:hi] @ item_f.T / temperature + item_bias
        scores += rng.gumbel(size=scores.shape).astype(np.float32)
        items.append(_top_k_rows(scores, None, k[lo:hi]))
    return np.concatenate(items)


class _GuideTable:
    """Exact draws from a discrete distribution in O(1) expected time (Chen & Asau's guide table):
    bucket j of n remembers the first item whose cumulative probability reaches j/n; a draw starts
    there and steps forward. A plain binary search over a million-entry CDF costs ~4x more."""

    def __init__(self, p: np.ndarray):
        self.cdf = np.cumsum(p / p.sum())
        self.cdf[-1] = 1.0
        self.n = len(p)
        self.start = np.searchsorted(self.cdf, np.arange(self.n) / self.n).astype(np.int64)

    def draw(self, rng, shape) -> np.ndarray:
        u = rng.random(shape)
        i = self.start[np.minimum((u * self.n).astype(np.int64), self.n - 1)]
        behind = self.cdf[i] < u
        while behind.any():  # a few steps at most: each bucket holds ~1/n of the mass
            i[behind] += 1
            behind[behind] = self.cdf[i[behind]] < u[behind]
        return i


def _pick_from_candidates(rng, user_f, item_f, item_bias, k, temperature) -> np.ndarray:
    """Candidates from the popularity prior, then the Gumbel top-k of u.v / temperature among each
    user's distinct candidates (see the module docstring). Users are processed in order of activity
    so that a chunk's candidate width (4x its largest k, at least ``_CANDIDATES``) fits them all."""
    n_users = len(user_f)
    prior = _GuideTable(np.exp(item_bias.astype(np.float64) - item_bias.max()))
    first = np.cumsum(k) - k
    out = np.empty(int(k.sum()), dtype=np.int64)
    by_activity = np.argsort(k, kind="stable")
    lo = 0
    while lo < n_users:
        hi = min(n_users, lo + max(1, _CHUNK_CELLS // max(_CANDIDATES, 4 * int(k[by_activity[lo]]))))
        users = by_activity[lo:hi]
        ku = k[users]
        width = max(_CANDIDATES, 4 * int(ku.max()))
        cand = prior.draw(rng, (len(users), width))
        cand.sort(axis=1)  # repeats of a candidate become neighbours
        scores = np.einsum("ud,ucd->uc", user_f[users], item_f[cand]) / temperature
        scores += rng.gumbel(size=scores.shape).astype(np.float32)
        scores[:, 1:][cand[:, 1:] == cand[:, :-1]] = -np.inf  # each distinct candidate once
        if (np.isfinite(scores).sum(1) < ku).any():
            raise ValueError(f"synthetic data: {width} candidates left a user fewer distinct items than its "
                             f"{int(ku.max())} interactions; lower popularity_exponent or mean_interactions")
        picked = _top_k_rows(scores, cand, ku)
        within = np.arange(len(picked)) - np.repeat(np.cumsum(ku) - ku, ku)
        out[np.repeat(first[users], ku) + within] = picked
        lo = hi
    return out


@SOURCES.register("synthetic")
class Synthetic(DataSource):
    Params = SyntheticSource

    def read(self, base_dir=None):
        return generate_synthetic(self.params), "synthetic"

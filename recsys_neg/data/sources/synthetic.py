"""The built-in dataset: implicit feedback from a latent-factor model.

Users and items get normal latent vectors; items also get a power-law
popularity. User ``u`` picks ``k_u`` distinct items with probability
proportional to ``exp(u.v / temperature + popularity_exponent * log pop)``,
sampled exactly with the Gumbel top-k trick, so a dot-product model has real
signal to learn beyond popularity.
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

    items = []
    chunk = max(1, _CHUNK_CELLS // n_items)
    for lo in range(0, n_users, chunk):
        hi = min(n_users, lo + chunk)
        scores = user_f[lo:hi] @ item_f.T / cfg.temperature + item_bias
        scores += rng.gumbel(size=scores.shape).astype(np.float32)
        kmax = int(k[lo:hi].max())
        top = np.argpartition(-scores, kmax - 1, axis=1)[:, :kmax]
        # order the candidates so the first k_u of each row are its top k_u
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)
        items.append(top[np.arange(kmax) < k[lo:hi, None]])
    item = np.concatenate(items)
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


@SOURCES.register("synthetic")
class Synthetic(DataSource):
    Params = SyntheticSource

    def read(self, base_dir=None):
        return generate_synthetic(self.params), "synthetic"

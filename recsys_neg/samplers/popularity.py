"""Popularity negatives: item i is proposed with probability q_i ∝ count_i ** alpha.

alpha=0 is uniform, alpha=1 proportional to training frequency (word2vec uses 0.75).
Draws use an alias table (O(1) per draw: one uniform index, one coin) by
default; ``method: multinomial`` uses torch.multinomial (binary search over
the CDF), slower on Gowalla (see benchmarks/results/samplers.md).
Exclusion of training positives is rejection against the proposal, so a draw
follows q restricted to the user's non-positives; ``log_q`` is the log of that
exact distribution: log q_i - log(1 - Q_u), Q_u = mass of the user's positives.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ..errors import DataError
from .base import SAMPLERS, Negatives, NegativeSampler
from .exclusion import ExclusionParams, build_positive_set, redraw_positives


class PopularityParams(ExclusionParams):
    alpha: float = Field(0.75, ge=0, description="exponent on item frequency; 0 = uniform")
    # Added to every count before the exponent, so items unseen in training stay reachable.
    smoothing: float = Field(0.0, ge=0)
    method: Literal["alias", "multinomial"] = "alias"
    rejection_rounds: int = Field(8, ge=0)


class AliasTable:
    """Walker's alias method: draw = pick a column uniformly, keep it or take its alias."""

    def __init__(self, probs: np.ndarray, device):
        n = len(probs)
        scaled = probs * n
        prob = np.zeros(n)
        alias = np.arange(n)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        for i in small + large:  # leftovers are 1 up to rounding
            prob[i] = 1.0
        self.n = n
        self.prob = torch.from_numpy(prob).float().to(device)
        self.alias = torch.from_numpy(alias).long().to(device)

    def draw(self, shape, generator=None) -> torch.Tensor:
        col = torch.randint(self.n, shape, generator=generator, device=self.prob.device)
        coin = torch.rand(shape, generator=generator, device=self.prob.device)
        return torch.where(coin < self.prob[col], col, self.alias[col])


def popularity_distribution(counts: np.ndarray, alpha: float, smoothing: float) -> np.ndarray:
    w = np.power(counts + smoothing, alpha)  # 0 ** 0 == 1: alpha=0 is uniform over all items
    if w.sum() <= 0:
        raise DataError("popularity sampler: every item has zero training count; set sampler.smoothing > 0")
    return w / w.sum()


@SAMPLERS.register("popularity")
class PopularitySampler(NegativeSampler):
    Params = PopularityParams

    def __init__(self, data, params: PopularityParams, device="cpu"):
        super().__init__(data, params, device)
        probs = popularity_distribution(data.item_popularity, params.alpha, params.smoothing)
        self.probs = torch.from_numpy(probs).to(self.device)
        self.log_probs = torch.log(self.probs).float()
        self.alias = AliasTable(probs, self.device) if params.method == "alias" else None
        self.positives = None
        if params.exclude_positives:
            # Mass of each user's positives under q: the exclusion renormaliser.
            mass = np.asarray(data.train @ probs).ravel()
            if (mass >= 1 - 1e-12).any():
                raise DataError("popularity sampler: some user's positives hold all the probability mass; "
                                "no negative can be drawn for them (set sampler.smoothing > 0)")
            self.log_keep = torch.from_numpy(np.log1p(-mass)).float().to(self.device)
            self.positives = build_positive_set(data.train, self.device, params.structure,
                                                params.memory_budget_mb * 1_000_000)

    def draw(self, shape, generator=None) -> torch.Tensor:
        if self.alias is not None:
            return self.alias.draw(shape, generator)
        n = int(np.prod(shape))
        return torch.multinomial(self.probs, n, replacement=True, generator=generator).view(shape)

    def exact_complement(self, users: torch.Tensor, generator=None) -> torch.Tensor:
        """q restricted to each user's non-positives, one user at a time (only the rare leftovers)."""
        out = torch.empty_like(users)
        for u in users.unique().tolist():
            rows = (users == u).nonzero().squeeze(1)
            w = self.probs.clone()
            lo, hi = self.data.train.indptr[u], self.data.train.indptr[u + 1]
            w[torch.from_numpy(self.data.train.indices[lo:hi].astype(np.int64)).to(w.device)] = 0
            out[rows] = torch.multinomial(w, rows.numel(), replacement=True, generator=generator)
        return out

    def sample(self, users, positives, num, step, scorer=None):
        gen = step.generator
        rows = 1 if self.params.shared else users.shape[0]
        items = self.draw((rows, num), gen)
        if self.positives is None:
            return Negatives(items, log_q=self.log_probs[items])
        redraw_positives(self.positives, users, items, lambda n, g: self.draw((n,), g),
                         self.exact_complement, self.params.rejection_rounds, gen)
        return Negatives(items, log_q=self.log_probs[items] - self.log_keep[users].unsqueeze(1))

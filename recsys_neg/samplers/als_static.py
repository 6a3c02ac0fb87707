"""Static hard negatives from a pre-trained retriever (implicit's ALS).

ALS is fitted on the training matrix; each user keeps the ``top_k`` items it
scores highest outside the training positives, and negatives are drawn
uniformly from that list (exact exclusion by construction). A fraction of
uniform negatives can be mixed in (hard lists alone over-fit to one
retriever's mistakes, cf. STAR/ADORE). Every ``refresh_every`` epochs the
lists are rebuilt: by re-fitting ALS with a new seed, or (``refresh_with:
model``) from the current model's own full scores.
"""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from .base import SAMPLERS, Negatives, NegativeSampler, SamplerParams
from .uniform import UniformParams, UniformSampler


class ALSStaticParams(SamplerParams):
    top_k: int = Field(200, ge=1, description="hard candidates kept per user")
    factors: int = Field(64, ge=1)
    iterations: int = Field(10, ge=1)
    regularization: float = Field(0.01, ge=0)
    alpha: float = Field(1.0, gt=0, description="ALS confidence weight of an interaction")
    uniform_fraction: float = Field(0.0, ge=0, le=1, description="share of uniform negatives mixed in")
    refresh_every: int | None = Field(None, ge=1, description="epochs between rebuilds; none = never")
    refresh_with: Literal["als", "model"] = "als"
    seed: int = 0
    batch_users: int = Field(2048, ge=1, description="users scored at once when building the lists")


def fit_als(train, params: ALSStaticParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    # implicit's own threads do the work; BLAS threads on top only oversubscribe (and warn).
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OpenBLAS is configured", category=RuntimeWarning)
        als = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization,
                                      alpha=params.alpha, iterations=params.iterations,
                                      random_state=seed)
        als.fit(train.astype(np.float32), show_progress=False)
    return np.asarray(als.user_factors), np.asarray(als.item_factors)


def top_unseen(score_rows, train, k: int, batch: int, device) -> torch.Tensor:
    """[n_users, k] highest-scored items per user outside its training positives."""
    n_users = train.shape[0]
    out = torch.empty((n_users, k), dtype=torch.long)
    for lo in range(0, n_users, batch):
        hi = min(lo + batch, n_users)
        scores = score_rows(lo, hi).float().cpu()
        sub = train[lo:hi].tocoo()
        scores[torch.from_numpy(sub.row.astype(np.int64)), torch.from_numpy(sub.col.astype(np.int64))] = -torch.inf
        out[lo:hi] = scores.topk(k, dim=1).indices
    return out.to(device)


@SAMPLERS.register("als_static")
class ALSStaticSampler(NegativeSampler):
    Params = ALSStaticParams

    def __init__(self, data, params: ALSStaticParams, device="cpu", model=None):
        super().__init__(data, params, device)
        self.model = model  # for refresh_with: model
        # Users with few unseen items get shorter lists: cap k at what every user has.
        self.k = min(params.top_k, int(data.n_items - np.diff(data.train.indptr).max()))
        self.hard: torch.Tensor | None = None
        self.uniform = (UniformSampler(data, UniformParams(), self.device)
                        if params.uniform_fraction > 0 else None)
        self.built_at = 0

    @property
    def excludes_positives(self) -> bool:
        return True  # lists hold unseen items only; the uniform share excludes too

    def build_from_als(self, seed: int) -> torch.Tensor:
        uf, itf = fit_als(self.data.train, self.params, seed)
        uf, itf = torch.from_numpy(uf), torch.from_numpy(itf)
        return top_unseen(lambda lo, hi: uf[lo:hi] @ itf.T, self.data.train, self.k,
                          self.params.batch_users, self.device)

    def build_from_model(self, model) -> torch.Tensor:
        with model.ranking() as rank:
            users = torch.arange(self.data.n_users, device=rank.device)
            return top_unseen(lambda lo, hi: rank(users[lo:hi]), self.data.train, self.k,
                              self.params.batch_users, self.device)

    def epoch_start(self, step):
        every, epoch = self.params.refresh_every, step.epoch
        if self.hard is None:
            self.hard, self.built_at = self.build_from_als(self.params.seed), epoch
        elif every is not None and epoch - self.built_at >= every:
            if self.params.refresh_with == "model" and self.model is not None:
                self.hard = self.build_from_model(self.model)
            else:
                self.hard = self.build_from_als(self.params.seed + epoch)
            self.built_at = epoch

    def state_dict(self) -> dict:
        return {} if self.hard is None else {"hard": self.hard.cpu(), "built_at": self.built_at}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.hard, self.built_at = state["hard"].to(self.device), int(state["built_at"])

    def sample(self, users, positives, num, step, scorer=None):
        if self.hard is None:
            self.epoch_start(step)
        gen = step.generator
        col = torch.randint(self.k, (users.shape[0], num), generator=gen, device=users.device)
        items = self.hard[users.unsqueeze(1), col]
        if self.uniform is not None:
            coin = torch.rand(items.shape, generator=gen, device=users.device) < self.params.uniform_fraction
            if bool(coin.any()):
                uni = self.uniform.sample(users, positives, num, step).items
                items = torch.where(coin, uni, items)
        return Negatives(items)

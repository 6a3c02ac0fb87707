"""The model contract shared by MF, LightGCN, SimpleX and baselines.

Training calls ``encode()`` once per step (LightGCN's propagation happens
there) and scores any number of (user, item) pairs from that state with
``user_vectors`` / ``item_vectors`` / ``score_vectors``, so samplers that
choose by score reuse the step's representations. Ranking for evaluation (or
for a sampler refreshing its index) goes through ``with model.ranking() as
rank: rank(users) -> [B, n_items]``: the representations are computed once
for the block and dropped when it ends; nothing is cached on the model.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..data.interactions import Interactions
from ..registry import Params, Registry
from .similarity import for_ranking, pair_scores

MODELS: Registry["Model"] = Registry("model", "recsys_neg.models")


@dataclass
class Encoded:
    """One step's representations: user/item tables (or whatever a model needs)."""

    users: torch.Tensor | None
    items: torch.Tensor
    extra: Any = None


class Ranker:
    """``rank(users[B]) -> scores [B, n_items]`` inside a ``model.ranking()`` block."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], device: torch.device):
        self.fn, self.device = fn, device

    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        return self.fn(users)


class Model(nn.Module):
    """Base class. Subclasses declare ``Params`` and implement ``encode``.

    Most models learn by gradient steps on sampled negatives. A model that fits itself
    (ALS sweeps, a closed form) sets ``self_training`` and implements ``fit_epoch``: the
    trainer then calls it once per epoch instead of stepping an optimiser, and keeps
    validation, checkpoints, time budget and resume as for any model.
    """

    Params = Params
    trainable = True
    self_training = False
    max_epochs: int | None = None  # a closed form fits in its first epoch; more is refused at assembly
    similarity = "dot"  # or "cosine": how user and item vectors become a score

    def __init__(self, data: Interactions, params: Params):
        super().__init__()
        self.n_users, self.n_items = data.n_users, data.n_items
        self.params = params

    def encode(self) -> Encoded:
        raise NotImplementedError(f"{type(self).__name__} does not define encode()")

    def user_vectors(self, enc: Encoded, users: torch.Tensor) -> torch.Tensor:
        return enc.users[users]

    def item_vectors(self, enc: Encoded, items: torch.Tensor) -> torch.Tensor:
        return enc.items[items]

    def score_vectors(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """u [B,d] with v [B,d] -> [B]; with v [B,K,d] or shared [1,K,d] -> [B,K]."""
        return pair_scores(u, v, self.similarity)

    # Per-layer views, for negatives synthesised layer by layer (MixGCF's hop mixing). A model
    # without propagation layers has one layer: its vectors.
    def user_layers(self, enc: Encoded, users: torch.Tensor) -> torch.Tensor:
        return self.user_vectors(enc, users).unsqueeze(-2)

    def item_layers(self, enc: Encoded, items: torch.Tensor) -> torch.Tensor:
        return self.item_vectors(enc, items).unsqueeze(-2)

    def pool_layers(self, layers: torch.Tensor) -> torch.Tensor:
        """[..., L, d] -> [..., d], the way the model turns layers into its representation."""
        return layers.mean(-2)

    def fit_epoch(self, step) -> float | None:
        """One epoch of a self-training model's own fitting; returns its loss if it has one."""
        raise NotImplementedError(f"{type(self).__name__} trains by gradient steps, not fit_epoch()")

    def regularization(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Squared L2 of the parameters these users/items touch, per example (LightGCN convention)."""
        return torch.zeros((), device=users.device)

    @contextmanager
    def ranking(self) -> Iterator[Ranker]:
        """Eval mode, no gradient, representations computed once for the block."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield self._ranker()
        finally:
            self.train(was_training)

    def _ranker(self) -> Ranker:
        enc = self.encode()
        items = for_ranking(enc.items, self.similarity)
        return Ranker(lambda users: for_ranking(self.user_vectors(enc, users), self.similarity) @ items.T,
                      items.device)

    def sparse_parameters(self) -> list[nn.Parameter]:
        """Parameters that receive sparse gradients (a row-sparse optimiser steps them)."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Embedding) and m.sparse]


class ModelScorer:
    """The step's ``Scorer`` and ``Representations``, from one ``encode()`` result.

    Calling it gives scores without gradient (choosing negatives must not train the model);
    the vector methods keep the gradient, so a synthesised negative trains what it is made of.
    """

    def __init__(self, model: Model, encoded: Encoded):
        self.model, self.encoded = model, encoded

    @torch.no_grad()
    def __call__(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        m = self.model
        return m.score_vectors(m.user_vectors(self.encoded, users), m.item_vectors(self.encoded, items))

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.model.user_vectors(self.encoded, users)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        return self.model.item_vectors(self.encoded, items)

    def user_layers(self, users: torch.Tensor) -> torch.Tensor:
        return self.model.user_layers(self.encoded, users)

    def item_layers(self, items: torch.Tensor) -> torch.Tensor:
        return self.model.item_layers(self.encoded, items)

    def pool_layers(self, layers: torch.Tensor) -> torch.Tensor:
        return self.model.pool_layers(layers)

    def scores_of(self, users: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """Scores of users [B] against vectors [B,d] / [B,K,d] / [1,K,d], with gradient."""
        return self.model.score_vectors(self.model.user_vectors(self.encoded, users), vectors)


def build_model(params: Params | dict, data: Interactions, path: str = "model") -> Model:
    """A model from its typed config (or a ``{name: ...}`` dict, validated here)."""
    return MODELS.build(MODELS.parse(params, path), data=data)

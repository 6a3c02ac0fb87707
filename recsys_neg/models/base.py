"""The model contract shared by MF, LightGCN, SimpleX and baselines.

Training calls ``encode()`` once per step (LightGCN's propagation happens
there) and then scores any number of (user, item) pairs from that state, so
samplers that need scores reuse the step's embeddings instead of recomputing
them. Evaluation calls ``prepare_full_scores()`` once and ``full_scores`` per
batch of users.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..data.interactions import Interactions
from ..registry import Params, Registry

MODELS: Registry["Model"] = Registry("model", "recsys_neg.models")


@dataclass
class Encoded:
    """One step's representations: user/item tables (or whatever a model needs)."""

    users: torch.Tensor | None
    items: torch.Tensor
    extra: Any = None


class Model(nn.Module):
    """Base class. Subclasses declare ``Params`` and implement ``encode``."""

    Params = Params
    trainable = True
    similarity = "dot"  # or "cosine": how user and item vectors become a score

    def __init__(self, data: Interactions, params: Params):
        super().__init__()
        self.n_users, self.n_items = data.n_users, data.n_items
        self.params = params
        self._cached: Encoded | None = None

    # ---- training-time interface --------------------------------------
    def encode(self) -> Encoded:
        raise NotImplementedError(f"{type(self).__name__} does not define encode()")

    def user_vectors(self, enc: Encoded, users: torch.Tensor) -> torch.Tensor:
        return enc.users[users]

    def item_vectors(self, enc: Encoded, items: torch.Tensor) -> torch.Tensor:
        return enc.items[items]

    def score_vectors(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """u [B,d] with v [B,d] -> [B]; with v [B,K,d] or shared [1,K,d] -> [B,K]."""
        per_row = v.dim() == 3 and not (v.shape[0] == 1 and u.shape[0] != 1)
        if self.similarity == "cosine":
            u = nn.functional.normalize(u, dim=-1)
            if per_row:
                # Divide the [B,K] dots by the norms instead of normalising v: at large K a
                # normalised copy of the [B,K,d] gather would double the step's memory.
                dots = torch.bmm(v, u.unsqueeze(-1)).squeeze(-1)
                return dots / torch.linalg.vector_norm(v, dim=-1).clamp_min(1e-12)
            v = nn.functional.normalize(v, dim=-1)
        if v.dim() == 2:
            return (u * v).sum(-1)
        if not per_row:  # one negative set [1,K,d] shared by the batch: a B x K matmul
            return u @ v[0].T
        return torch.bmm(v, u.unsqueeze(-1)).squeeze(-1)

    def score(self, users: torch.Tensor, items: torch.Tensor, enc: Encoded | None = None) -> torch.Tensor:
        """Scores for users [B] and items [B] or [B,K]; encodes if no state is given."""
        enc = enc if enc is not None else self.encode()
        u = self.user_vectors(enc, users)
        v = self.item_vectors(enc, items)
        return self.score_vectors(u, v)

    def regularization(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Squared L2 of the parameters these users/items touch, per example (LightGCN convention)."""
        return torch.zeros((), device=users.device)

    # ---- evaluation-time interface ------------------------------------
    def prepare_full_scores(self) -> None:
        self._cached = self.encode()

    def release_full_scores(self) -> None:
        self._cached = None

    def full_scores(self, users: torch.Tensor) -> torch.Tensor:
        enc = self._cached if self._cached is not None else self.encode()
        u = self.user_vectors(enc, users)
        v = enc.items
        if self.similarity == "cosine":
            u = nn.functional.normalize(u, dim=-1)
            v = nn.functional.normalize(v, dim=-1)
        return u @ v.T

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def sparse_parameters(self) -> list[nn.Parameter]:
        """Parameters that receive sparse gradients (use SparseAdam for them)."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Embedding) and m.sparse]


def build_model(name: str, values: dict, data: Interactions, field: str = "model") -> Model:
    params = MODELS.params(name, values, field)
    return MODELS.get(name)(data, params)

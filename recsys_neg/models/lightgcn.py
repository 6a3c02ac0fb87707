"""LightGCN (He et al., SIGIR 2020): linear propagation on the normalised user-item graph."""
from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from .base import MODELS, Encoded, Model
from .mf import EmbeddingParams
from .propagation import normalized_adjacency, propagate, to_torch_csr


class LightGCNParams(EmbeddingParams):
    num_layers: int = Field(3, ge=0)
    init_std: float = Field(0.1, gt=0)  # the paper's code
    sparse: bool = False  # the whole table enters the propagation, so gradients are dense
    # Plain torch.sparse.mm autograd instead of the symmetric shortcut (for checking).
    symmetric_backward: bool = True


@MODELS.register("lightgcn")
class LightGCN(Model):
    Params = LightGCNParams

    def __init__(self, data, params: LightGCNParams):
        super().__init__(data, params)
        self.similarity = params.similarity
        self.embedding = nn.Parameter(torch.empty(self.n_users + self.n_items, params.embedding_dim))
        nn.init.normal_(self.embedding, std=params.init_std)
        # Not a buffer: rebuilt from the data, never stored in checkpoints.
        self._adj = to_torch_csr(normalized_adjacency(data.train))

    def _adjacency(self) -> torch.Tensor:
        if self._adj.device != self.embedding.device:
            self._adj = self._adj.to(self.embedding.device)
        return self._adj

    def encode(self) -> Encoded:
        layers = propagate(self._adjacency(), self.embedding, self.params.num_layers,
                           self.params.symmetric_backward, keep_layers=True)
        out = layers[-1]
        # the layer outputs are kept (references, no copy) for per-layer views of negatives
        return Encoded(users=out[: self.n_users], items=out[self.n_users:], extra=layers[:-1])

    def user_layers(self, enc, users):
        return torch.stack([h[users] for h in enc.extra], dim=-2)

    def item_layers(self, enc, items):
        return torch.stack([h[self.n_users + items] for h in enc.extra], dim=-2)

    def regularization(self, users, items):
        # L2 on the layer-0 (ego) embeddings, as in the paper's code.
        u = self.embedding[users]
        v = self.embedding[self.n_users + items]
        return 0.5 * (u.pow(2).sum() + v.pow(2).sum()) / users.shape[0]

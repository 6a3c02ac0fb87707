"""MostPop: every user gets the items ranked by training popularity."""
from __future__ import annotations

import torch

from ..registry import Params
from .base import MODELS, Encoded, Model


@MODELS.register("mostpop")
class MostPop(Model):
    Params = Params
    trainable = False

    def __init__(self, data, params):
        super().__init__(data, params)
        self.register_buffer("popularity", torch.as_tensor(data.item_popularity, dtype=torch.float32))

    def encode(self) -> Encoded:
        return Encoded(users=None, items=self.popularity)

    def score(self, users, items, enc=None):
        return self.popularity[items]

    def full_scores(self, users):
        return self.popularity.expand(users.shape[0], -1)

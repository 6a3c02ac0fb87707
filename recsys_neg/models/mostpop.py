"""MostPop: every user gets the items ranked by training popularity.

A one-dimensional factor model with every user vector fixed at 1 and each
item's vector its training count, so it ranks and scores through the same
contract as the learned models.
"""
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
        return Encoded(users=None, items=self.popularity.unsqueeze(1))

    def user_vectors(self, enc, users):
        return torch.ones((users.shape[0], 1), device=self.popularity.device)

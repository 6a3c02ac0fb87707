"""A fresh uniform shuffle of the training pairs every epoch (the standard protocol)."""
from __future__ import annotations

import torch

from ..registry import Params
from .base import BATCHING, BatchOrder


@BATCHING.register("shuffle")
class Shuffle(BatchOrder):
    Params = Params

    def order(self, n, step):
        return torch.randperm(n, generator=step.generator, device=self.device)

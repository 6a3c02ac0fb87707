"""The positive-selector contract: ``select(users[B], positives[B], context) -> positives[B]``.

The batch arrives as (user, observed positive) pairs; a selector may swap the
positive for another of the user's training items (PLD resampling) or keep it.
"""
from __future__ import annotations

import torch

from ..data.interactions import Interactions
from ..registry import Params, Registry

POSITIVES: Registry["PositiveSelector"] = Registry("positive selector", "recsys_neg.positives")


class PositiveSelector:
    Params = Params
    needs_scores = False

    def __init__(self, data: Interactions, params: Params, device="cpu"):
        self.data = data
        self.params = params
        self.device = torch.device(device)

    def select(self, users: torch.Tensor, positives: torch.Tensor, context) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define select()")

    def on_epoch_start(self, epoch: int, context) -> None:
        """Hook for selectors with schedules."""


def build_positive_selector(name: str, values: dict, data: Interactions, device,
                            field: str = "positives") -> PositiveSelector:
    params = POSITIVES.params(name, values, field)
    return POSITIVES.get(name)(data, params, device)

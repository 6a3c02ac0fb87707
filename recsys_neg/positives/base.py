"""The positive-selector contract: ``select(users[B], positives[B], step, scorer) -> positives[B]``.

The batch arrives as (user, observed positive) pairs; a selector may swap the
positive for another of the user's training items (PLD resampling) or keep it.
A selector that needs the run's loss or sampler names them in its constructor
(``loss=``, ``sampler=``) and gets them when built.
"""
from __future__ import annotations

import torch

from ..data.interactions import Interactions
from ..state import NoState
from ..registry import Params, Registry
from ..step import Scorer, Step

POSITIVES: Registry["PositiveSelector"] = Registry("positive selector", "recsys_neg.positives")


class PositiveSelector(NoState):
    Params = Params

    def __init__(self, data: Interactions, params: Params, device="cpu"):
        self.data = data
        self.params = params
        self.device = torch.device(device)

    def select(self, users: torch.Tensor, positives: torch.Tensor, step: Step,
               scorer: Scorer | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define select()")

    def epoch_start(self, step: Step) -> None:
        """For selectors with schedules."""



def build_positive_selector(params: Params | dict, data: Interactions, device="cpu", path: str = "positives",
                            **parts) -> PositiveSelector:
    """A selector from its typed config (or a ``{name: ...}`` dict); ``parts``: loss, sampler."""
    return POSITIVES.build(POSITIVES.parse(params, path), data=data, device=device, **parts)

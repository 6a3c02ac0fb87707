"""The negative-sampler contract.

``sample(users[B], positives[B], num, context) -> Negatives``. ``items`` is
[B, num], or [1, num] for one negative set shared by the whole batch.
``log_q`` is the log proposal probability (for sampled-softmax correction),
``weight`` a per-negative weight (false-negative-aware or noise-robust).
Samplers that need model scores set ``needs_scores`` and read them from
``context.scores``, which reuses the step's encoded representations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..data.interactions import Interactions
from ..registry import Params, Registry

SAMPLERS: Registry["NegativeSampler"] = Registry("sampler", "recsys_neg.samplers")


@dataclass
class Negatives:
    items: torch.Tensor
    log_q: torch.Tensor | None = None
    weight: torch.Tensor | None = None


@dataclass
class StepContext:
    """What a training step offers to samplers, positive selectors and losses."""

    model: Any
    encoded: Any
    data: Interactions
    epoch: int = 0
    step: int = 0
    generator: torch.Generator | None = None
    state: dict = field(default_factory=dict)
    # The run's other components, for parts that need them (PLD scores candidate
    # positives with the loss; NBPO-style losses read the sampler's weights).
    loss: Any = None
    sampler: Any = None
    selector: Any = None

    @torch.no_grad()
    def scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Model scores from this step's representations, without gradient."""
        return self.model.score(users, items, self.encoded)


class NegativeSampler:
    """Base class. Subclasses declare ``Params`` and implement ``sample``."""

    Params = Params
    needs_scores = False

    def __init__(self, data: Interactions, params: Params, device: torch.device | str = "cpu"):
        self.data = data
        self.params = params
        self.device = torch.device(device)

    def sample(self, users: torch.Tensor, positives: torch.Tensor, num: int,
               context: StepContext) -> Negatives:
        raise NotImplementedError(f"{type(self).__name__} does not define sample()")

    def on_epoch_start(self, epoch: int, context: StepContext) -> None:
        """Hook for samplers with per-epoch state (refreshing a static index, schedules)."""


def build_sampler(name: str, values: dict, data: Interactions, device, field: str = "sampler") -> NegativeSampler:
    params = SAMPLERS.params(name, values, field)
    return SAMPLERS.get(name)(data, params, device)

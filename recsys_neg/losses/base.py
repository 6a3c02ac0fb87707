"""The loss contract: ``loss(pos[B], neg[B,K], weight=None, log_q=None, step=None) -> scalar``.

A loss sees scores, the sampler's weights and log-proposal, and the step
(epoch, global step) for schedules; nothing of the model or the trainer.
``per_example`` returns one value per positive, so that positive selectors
(PLD) and denoising losses (T-CE) can look at individual losses; ``forward``
averages them unless a loss overrides it. ``diagnostics`` reports learned
quantities worth logging per epoch (NBPO's flip rates).
"""
from __future__ import annotations

import torch
from torch import nn

from ..data.interactions import Interactions
from ..registry import Params, Registry
from ..step import Step

LOSSES: Registry["Loss"] = Registry("loss", "recsys_neg.losses")


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean over the negatives axis, weighted when weights are given ([B,K] -> [B])."""
    if weight is None:
        return values.mean(-1)
    return (values * weight).sum(-1) / weight.sum(-1).clamp_min(1e-12)


class Loss(nn.Module):
    Params = Params

    def __init__(self, data: Interactions, params: Params):
        super().__init__()
        self.params = params

    def per_example(self, pos: torch.Tensor, neg: torch.Tensor, weight: torch.Tensor | None = None,
                    log_q: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define per_example()")

    def forward(self, pos, neg, weight=None, log_q=None, step: Step | None = None) -> torch.Tensor:
        return self.per_example(pos, neg, weight, log_q).mean()

    def diagnostics(self) -> dict[str, float]:
        return {}


def build_loss(params: Params | dict, data: Interactions, path: str = "loss") -> Loss:
    """A loss from its typed config (or a ``{name: ...}`` dict, validated here)."""
    return LOSSES.build(LOSSES.parse(params, path), data=data)

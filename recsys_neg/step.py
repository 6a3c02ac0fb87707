"""What one training step is, as every part sees it: the neutral contract.

Samplers, positive selectors and losses import this module and nothing of the
trainer. A ``Step`` says when (epoch, global step) and carries the random
generator every draw of the step must use (the seed makes a run repeatable).
A ``Scorer`` gives model scores from the step's representations, without
gradient, to the parts that choose by score (DNS, SimANS, PLD …).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Step:
    epoch: int = 0  # 1-based during training; 0 outside it
    step: int = 0  # steps taken since the run began, across epochs (schedules read it)
    generator: "torch.Generator | None" = None


class Scorer(Protocol):
    """``scorer(users[B], items[B] | [B, K] | [1, K]) -> scores`` without gradient."""

    def __call__(self, users: "torch.Tensor", items: "torch.Tensor") -> "torch.Tensor": ...

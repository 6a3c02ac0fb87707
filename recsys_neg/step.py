"""What one training step is, as every part sees it: the neutral contract.

Samplers, positive selectors and losses import this module and nothing of the
trainer. A ``Step`` says when (epoch, global step) and carries the random
generator every draw of the step must use (the seed makes a run repeatable).
A ``Scorer`` gives model scores from the step's representations, without
gradient, to the parts that choose by score (DNS, SimANS, PLD …). The scorer a
training step hands out is also ``Representations``: the step's user and item
vectors with gradient, per propagation layer where the model has layers, for
samplers that synthesise negatives as mixtures of embeddings (MixGCF, MoCHi).
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


class Representations(Scorer, Protocol):
    """The step's representations with gradient (what a synthesised negative is made of)."""

    def user_vectors(self, users: "torch.Tensor") -> "torch.Tensor": ...  # [B, d]

    def item_vectors(self, items: "torch.Tensor") -> "torch.Tensor": ...  # [..., d]

    def item_layers(self, items: "torch.Tensor") -> "torch.Tensor": ...  # [..., L, d]; L = 1 without layers

    def user_layers(self, users: "torch.Tensor") -> "torch.Tensor": ...  # [B, L, d]

    def pool_layers(self, layers: "torch.Tensor") -> "torch.Tensor": ...  # [..., L, d] -> [..., d]

    def scores_of(self, users: "torch.Tensor", vectors: "torch.Tensor") -> "torch.Tensor": ...  # with gradient

"""Uniform negatives, optionally excluding the user's training positives exactly.

Draws are fresh every batch. Exclusion is rejection sampling against a
membership structure chosen by size; the few draws still rejected after a
handful of rounds (users with very long histories) are drawn exactly from the
user's complement, so the result is exact and the loop is bounded.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from ..registry import Params
from .base import SAMPLERS, Negatives, NegativeSampler
from .exclusion import build_complement_sampler, build_positive_set, redraw_positives


class UniformParams(Params):
    exclude_positives: bool = True
    structure: Literal["auto", "dense", "bitset", "sorted"] = "auto"
    memory_budget_mb: int = Field(1500, gt=0)
    rejection_rounds: int = Field(4, ge=0)
    # One negative set [1, num] for the whole batch (a B x num score matrix); exclusion
    # is then impossible per user, so it requires exclude_positives=false.
    shared: bool = False

    @model_validator(mode="after")
    def _shared_needs_no_exclusion(self) -> "UniformParams":
        if self.shared and self.exclude_positives:
            raise ValueError("shared negatives cannot exclude each user's positives; "
                             "set exclude_positives: false")
        return self


class ExcludingDraw:
    """Uniform draws over all items, re-drawn until none is a training positive."""

    def __init__(self, data, params: UniformParams, device):
        self.n_items = data.n_items
        self.rounds = params.rejection_rounds
        self.positives = build_positive_set(data.train, device, params.structure,
                                            params.memory_budget_mb * 1_000_000)
        self.complement = build_complement_sampler(data.train, device)

    def draw(self, n: int, generator, device) -> torch.Tensor:
        return torch.randint(self.n_items, (n,), generator=generator, device=device)

    def fix(self, users: torch.Tensor, items: torch.Tensor, generator) -> torch.Tensor:
        """Replace in place every entry of items [B, K] that is a positive of its user."""
        return redraw_positives(self.positives, users, items,
                                lambda n, g: self.draw(n, g, items.device),
                                self.complement.sample, self.rounds, generator)


@SAMPLERS.register("uniform")
class UniformSampler(NegativeSampler):
    Params = UniformParams

    def __init__(self, data, params: UniformParams, device="cpu"):
        super().__init__(data, params, device)
        self.exclusion = ExcludingDraw(data, params, self.device) if params.exclude_positives else None

    def sample(self, users, positives, num, context):
        gen = context.generator if context is not None else None
        rows = 1 if self.params.shared else users.shape[0]
        items = torch.randint(self.data.n_items, (rows, num), generator=gen, device=users.device)
        if self.exclusion is not None:
            self.exclusion.fix(users, items, gen)
        return Negatives(items)

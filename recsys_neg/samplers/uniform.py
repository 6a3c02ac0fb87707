"""Uniform negatives, optionally excluding the user's training positives exactly.

Draws are fresh every batch. Exclusion is rejection sampling against a
membership structure chosen by size; the few draws still rejected after a
handful of rounds (users with very long histories) are drawn exactly from the
user's complement, so the result is exact and the loop is bounded.
"""
from __future__ import annotations

import torch

from .base import SAMPLERS, Negatives, NegativeSampler
from .exclusion import ExclusionParams, build_complement_sampler, build_positive_set, redraw_positives


class UniformParams(ExclusionParams):
    """num_negatives, exclude_positives, structure, memory_budget_mb, rejection_rounds, shared."""


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

    def __init__(self, data, params: UniformParams = UniformParams(), device="cpu"):
        super().__init__(data, params, device)
        self.exclusion = ExcludingDraw(data, params, self.device) if params.exclude_positives else None

    def sample(self, users, positives, num, step, scorer=None):
        gen = step.generator
        rows = 1 if self.params.shared else users.shape[0]
        items = torch.randint(self.data.n_items, (rows, num), generator=gen, device=users.device)
        if self.exclusion is not None:
            self.exclusion.fix(users, items, gen)
        return Negatives(items)

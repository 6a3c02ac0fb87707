"""Candidate pools for score-based samplers (dns, simans): uniform draws, exclusion optional."""
from __future__ import annotations

import torch

from .base import StepContext
from .uniform import UniformParams, UniformSampler


class CandidatePool:
    """Draws [B, n] uniform candidates (exactly excluding training positives when asked)."""

    def __init__(self, data, exclude_positives: bool, device):
        self.uniform = UniformSampler(data, UniformParams(exclude_positives=exclude_positives), device)

    def draw(self, users: torch.Tensor, n: int, context: StepContext) -> torch.Tensor:
        return self.uniform.sample(users, None, n, context).items


def require_scores(context: StepContext | None, name: str) -> StepContext:
    if context is None or context.model is None:
        raise ValueError(f"the {name} sampler scores candidates with the model: pass a StepContext "
                         "with model and encoded set")
    return context

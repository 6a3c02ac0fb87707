"""Candidate pools for score-based samplers (dns, simans): uniform draws, exclusion optional."""
from __future__ import annotations

import torch

from ..step import Scorer, Step
from .uniform import UniformParams, UniformSampler


class CandidatePool:
    """Draws [B, n] uniform candidates (exactly excluding training positives when asked)."""

    def __init__(self, data, exclude_positives: bool, device):
        self.uniform = UniformSampler(data, UniformParams(exclude_positives=exclude_positives), device)

    def draw(self, users: torch.Tensor, n: int, step: Step) -> torch.Tensor:
        return self.uniform.sample(users, None, n, step).items


def scores_in_chunks(scorer: Scorer, users: torch.Tensor, items: torch.Tensor,
                     max_pairs: int = 1 << 16) -> torch.Tensor:
    """scorer over chunks: scoring [B, K] gathers B*K vectors, so bound it.

    With B=2048 rows and 8000 candidates, one call would gather 16M vectors (4 GB at d=64);
    65k pairs a chunk (16 MB at d=64) measured fastest among 4k-262k on the team machine.
    Per-row items are cut by rows (contiguous slices), a shared [1, K] set by columns.
    """
    rows, k = users.shape[0], items.shape[1]
    if rows * k <= max_pairs:
        return scorer(users, items)
    if items.shape[0] == 1:
        step = max(1, max_pairs // max(rows, 1))
        return torch.cat([scorer(users, items[:, lo: lo + step]) for lo in range(0, k, step)], dim=1)
    step = max(1, max_pairs // k)
    return torch.cat([scorer(users[lo: lo + step], items[lo: lo + step]) for lo in range(0, rows, step)])

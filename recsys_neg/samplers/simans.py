"""SimANS ambiguous negatives (Zhou et al., EMNLP 2022): prefer candidates scored near the positive.

Among ``candidates`` uniform draws per row (training positives excluded), a
candidate j is drawn with probability p_j ∝ exp(-a * (s_j - s_pos - b)^2):
negatives far below the positive (easy) and far above it (likely false
negatives) both become rare. ``num`` draws per row, without replacement when
``num <= candidates``.
"""
from __future__ import annotations

import torch
from pydantic import Field

from .base import SAMPLERS, ExcludesPositives, Negatives, NegativeSampler, SamplerParams, require_scorer
from .candidates import CandidatePool, scores_in_chunks


class SimANSParams(SamplerParams, ExcludesPositives):
    candidates: int = Field(64, ge=1)
    a: float = Field(1.0, gt=0, description="sharpness of the preference around s_pos + b")
    b: float = Field(0.0, description="preferred offset of the negative's score from the positive's")


def ambiguity_logits(neg_scores: torch.Tensor, pos_scores: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """log p (up to a constant): -a (s_neg - s_pos - b)^2 for neg [B, M], pos [B]."""
    return -a * (neg_scores - pos_scores.unsqueeze(1) - b).pow(2)


@SAMPLERS.register("simans")
class SimANSSampler(NegativeSampler):
    Params = SimANSParams

    def __init__(self, data, params: SimANSParams, device="cpu"):
        super().__init__(data, params, device)
        self.pool = CandidatePool(data, params.exclude_positives, self.device)

    def sample(self, users, positives, num, step, scorer=None):
        scorer = require_scorer(scorer, "simans")
        p = self.params
        cand = self.pool.draw(users, p.candidates, step)
        logits = ambiguity_logits(scores_in_chunks(scorer, users, cand), scorer(users, positives), p.a, p.b)
        probs = torch.softmax(logits, dim=-1)
        idx = torch.multinomial(probs, num, replacement=num > p.candidates, generator=step.generator)
        return Negatives(cand.gather(1, idx))

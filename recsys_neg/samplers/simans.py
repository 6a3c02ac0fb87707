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

from ..registry import Params
from .base import SAMPLERS, Negatives, NegativeSampler
from .candidates import CandidatePool, require_scores, scores_in_chunks


class SimANSParams(Params):
    candidates: int = Field(64, ge=1)
    a: float = Field(1.0, gt=0, description="sharpness of the preference around s_pos + b")
    b: float = Field(0.0, description="preferred offset of the negative's score from the positive's")
    exclude_positives: bool = True


def ambiguity_logits(neg_scores: torch.Tensor, pos_scores: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """log p (up to a constant): -a (s_neg - s_pos - b)^2 for neg [B, M], pos [B]."""
    return -a * (neg_scores - pos_scores.unsqueeze(1) - b).pow(2)


@SAMPLERS.register("simans")
class SimANSSampler(NegativeSampler):
    Params = SimANSParams
    needs_scores = True

    def __init__(self, data, params: SimANSParams, device="cpu"):
        super().__init__(data, params, device)
        self.pool = CandidatePool(data, params.exclude_positives, self.device)

    def sample(self, users, positives, num, context):
        context = require_scores(context, "simans")
        p = self.params
        cand = self.pool.draw(users, p.candidates, context)
        logits = ambiguity_logits(scores_in_chunks(context, users, cand), context.scores(users, positives), p.a, p.b)
        probs = torch.softmax(logits, dim=-1)
        idx = torch.multinomial(probs, num, replacement=num > p.candidates, generator=context.generator)
        return Negatives(cand.gather(1, idx))

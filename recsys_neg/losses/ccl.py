"""Cosine contrastive loss (SimpleX, CIKM 2021).

per positive: relu(1 - s_pos) + w * mean_j relu(s_neg_j - m)

As in the official code (RecZoo SimpleX, CosineContrastiveLoss) the negative term is
the MEAN over the K negatives times ``negative_weight``; without a weight it is the
SUM (the paper's plain form). relu(1 - s) equals 1 - s for cosine scores. Sampler
weights make the mean a weighted mean (and the sum a weighted sum).
"""
from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from ..registry import Params
from .base import LOSSES, Loss, weighted_mean


class CCLParams(Params):
    margin: float = Field(0.9, ge=-1, le=1, description="negatives below this similarity cost nothing")
    negative_weight: float | None = Field(None, gt=0, description="None sums the negatives' terms")


@LOSSES.register("ccl")
class CosineContrastiveLoss(Loss):
    Params = CCLParams

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        pos_term = F.relu(1 - pos)
        neg_terms = F.relu(neg - self.params.margin)
        if self.params.negative_weight is None:
            neg_term = (neg_terms if weight is None else neg_terms * weight).sum(-1)
        else:
            neg_term = self.params.negative_weight * weighted_mean(neg_terms, weight)
        return pos_term + neg_term

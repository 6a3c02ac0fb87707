"""Binary cross-entropy: -log sigmoid(s_pos) - mean_j log(1 - sigmoid(s_neg_j)).

The negative term is averaged over the K negatives (weighted mean with sampler
weights), so the positive and negative sides weigh the same whatever K is; set
``negative_weight`` to tilt it (e.g. K to recover the plain sum).
"""
from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from ..registry import Params
from .base import LOSSES, Loss, weighted_mean


class BCEParams(Params):
    negative_weight: float = Field(1.0, gt=0)


@LOSSES.register("bce")
class BCELoss(Loss):
    Params = BCEParams

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        # -log(1 - sigmoid(x)) = softplus(x); -log sigmoid(x) = softplus(-x)
        return F.softplus(-pos) + self.params.negative_weight * weighted_mean(F.softplus(neg), weight)

"""Bayesian personalised ranking: -log sigmoid(s_pos - s_neg), averaged over negatives."""
from __future__ import annotations

import torch.nn.functional as F

from ..registry import Params
from .base import LOSSES, Loss, weighted_mean


@LOSSES.register("bpr")
class BPRLoss(Loss):
    Params = Params

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        return weighted_mean(F.softplus(neg - pos.unsqueeze(1)), weight)

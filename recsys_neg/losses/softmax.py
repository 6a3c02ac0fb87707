"""Sampled softmax / InfoNCE over one positive and K sampled negatives.

per positive: -log( exp(s_pos/t) / (exp(s_pos/t) + sum_j w_j exp(l_j)) ),
l_j = s_neg_j/t - log_q_j when ``logq_correction`` is on (Bengio & Senecal; Yi et al.
2019: corrects a non-uniform proposal), else s_neg_j/t. The positive is not corrected.
Sampler weights w_j scale each negative's share of the partition function (log w_j
is added to its logit), so weight 0 removes a negative and all-ones changes nothing.
"""
from __future__ import annotations

import torch
from pydantic import Field

from ..registry import Params
from .base import LOSSES, Loss


class SoftmaxParams(Params):
    temperature: float = Field(1.0, gt=0)
    logq_correction: bool = True


@LOSSES.register("softmax")
class SampledSoftmaxLoss(Loss):
    Params = SoftmaxParams

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        t = self.params.temperature
        neg_logits = neg / t
        if log_q is not None and self.params.logq_correction:
            neg_logits = neg_logits - log_q
        if weight is not None:
            neg_logits = neg_logits + torch.log(weight.clamp_min(0))  # log 0 = -inf drops it
        neg_logits = neg_logits.expand(pos.shape[0], -1)  # shared [1,K] corrections
        logits = torch.cat([(pos / t).unsqueeze(1), neg_logits], dim=1)
        return torch.logsumexp(logits, dim=1) - pos / t

"""Hardness-weighted InfoNCE (Robinson et al., "Contrastive Learning with Hard Negative
Samples", ICLR 2021): negatives re-weighted by importance weights that grow with score.

The negatives' term of InfoNCE is N times a weighted mean of e^{s_j/t} whose weights are
the beta-tilted importance weights imp_j = e^{beta s_j/t}, normalised over the row:

    reweighted = N * sum_j w_j imp_j e^{s_j/t} / sum_j w_j imp_j,     N = sum_j w_j
    Ng = max( (reweighted - tau+ N e^{s_pos/t}) / (1 - tau+),  N e^{-1/t} )
    per positive: -log( e^{s_pos/t} / (e^{s_pos/t} + Ng) )

beta = 0 is InfoNCE (with the debiasing of ``debiased`` when tau+ > 0); larger beta
concentrates the negative term on the hardest negatives. Log space throughout.

Where this differs from the official code (joshr17/HCL, ``criterion`` with
estimator='hard'): there the negatives are the 2B - 2 in-batch views and N = 2B - 2;
here they are the sampler's, with sampler weights as fractional counts (weight 0
drops a negative). As in the official code the importance weights are not detached
(gradient flows through the tilt too), the clamp is always applied, and ``log_q`` is
not used (see ``debiased``).
"""
from __future__ import annotations

import torch
from pydantic import Field

from .base import LOSSES
from .debiased import debiased_terms, weighted_log_count
from .softmax import safe_logsumexp
from .temperature import TemperatureParams, TemperedLoss


class HardInfoNCEParams(TemperatureParams):
    beta: float = Field(1.0, ge=0, description="tilt: imp_j = exp(beta * s_j / t); 0 = plain InfoNCE")
    tau_plus: float = Field(0.0, ge=0, lt=1, description="debiasing class prior (0 = none)")


@LOSSES.register("hard_infonce")
class HardInfoNCELoss(TemperedLoss):
    Params = HardInfoNCEParams

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        neg = neg.expand(pos.shape[0], -1)
        t, beta = self.tau(), self.params.beta
        log_w, log_n = weighted_log_count(neg, weight)
        logits = neg / t
        log_sum = log_n + safe_logsumexp((1 + beta) * logits + log_w) - safe_logsumexp(beta * logits + log_w)
        log_sum = torch.where(torch.isneginf(log_n), log_n, log_sum)  # no negative left: -inf, not NaN
        return debiased_terms(pos, log_sum, log_n, t, self.params.tau_plus)

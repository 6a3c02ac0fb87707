"""Decoupled contrastive loss (Yeh et al., "Decoupled Contrastive Learning", ECCV 2022).

InfoNCE with the positive removed from the denominator:

    per positive: -s_pos/t + log sum_j w_j exp(l_j),   l_j = s_neg_j/t (- log q_j)

The paper shows the positive's share of the InfoNCE denominator scales every gradient
by (1 - p_pos) ("negative-positive coupling"), which shrinks the learning signal
exactly where the positive is already easy and makes small batches worse; dropping it
removes the coupling. ``vmf_sigma`` turns on the paper's DCLW variant: the positive term
is weighted by 2 - B * softmax_b(s_pos_b / sigma) over the batch's B positives (negative
von Mises-Fisher weighting: harder positives, lower similarity, weigh more).

Sampler weights add log w_j to a negative's logit (weight 0 drops it) and ``log_q``
corrects a non-uniform proposal as in ``softmax``. Where this differs from the official
code (ECCV paper's SimCLR setting): there the two augmented views supply the positive and
the 2B - 2 other views the negatives, on normalised vectors; here the positive is the
user's item and the negatives are whatever the sampler gives, scored by the model's own
similarity (cosine or dot). As in the paper's code the DCLW weight is not detached.
"""
from __future__ import annotations

import torch
from pydantic import Field

from .base import LOSSES
from .softmax import LogQParams, negative_logits, safe_logsumexp
from .temperature import TemperedLoss


class DecoupledParams(LogQParams):
    vmf_sigma: float | None = Field(None, gt=0, description="DCLW positive weighting; none = plain DCL")


@LOSSES.register("decoupled")
class DecoupledContrastiveLoss(TemperedLoss):
    Params = DecoupledParams

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        t = self.tau()
        neg_logits = negative_logits(neg, t, weight, log_q, self.params.logq_correction)
        neg_logits = neg_logits.expand(pos.shape[0], -1)
        pos_term = -pos / t
        if self.params.vmf_sigma is not None:
            pos_term = pos_term * (2 - pos.shape[0] * torch.softmax(pos / self.params.vmf_sigma, dim=0))
        lse = safe_logsumexp(neg_logits)
        # a row left without any negative (all weights 0) has nothing to contrast: it adds 0
        return torch.where(torch.isfinite(lse), pos_term + lse, torch.zeros_like(lse))

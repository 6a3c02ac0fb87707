"""Sampled softmax / InfoNCE over one positive and K sampled negatives.

per positive: -log( exp(s_pos/t) / (exp(s_pos/t) + sum_j w_j exp(l_j)) ),
l_j = s_neg_j/t - log_q_j when ``logq_correction`` is on (Bengio & Senecal; Yi et al.
2019: corrects a non-uniform proposal), else s_neg_j/t. The positive is not corrected.
Sampler weights w_j scale each negative's share of the partition function (log w_j
is added to its logit), so weight 0 removes a negative and all-ones changes nothing.
The temperature may be fixed, learnable or scheduled (``losses/temperature.py``).
"""
from __future__ import annotations

import torch

from .base import LOSSES
from .temperature import TemperatureParams, TemperedLoss


class LogQParams(TemperatureParams):
    """For losses that can correct a non-uniform proposal by its log-probability."""

    logq_correction: bool = True


class SoftmaxParams(LogQParams):
    """temperature, logq_correction."""


def negative_logits(neg, t, weight, log_q, correct: bool):
    """s/t - log q (when correcting) + log w (log 0 = -inf drops a negative), as [B, K]."""
    logits = neg / t
    if log_q is not None and correct:
        logits = logits - log_q
    if weight is not None:
        logits = logits + torch.log(weight.clamp_min(0))
    return logits


def safe_logsumexp(x: torch.Tensor) -> torch.Tensor:
    """logsumexp over the last axis; -inf (and no NaN gradient) for a row whose entries are all -inf."""
    empty = torch.isneginf(x).all(-1, keepdim=True)
    out = torch.logsumexp(x.masked_fill(empty, 0.0), dim=-1)
    return out.masked_fill(empty.squeeze(-1), float("-inf"))


@LOSSES.register("softmax")
class SampledSoftmaxLoss(TemperedLoss):
    Params = SoftmaxParams

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        t = self.tau()
        neg_logits = negative_logits(neg, t, weight, log_q, self.params.logq_correction)
        neg_logits = neg_logits.expand(pos.shape[0], -1)  # shared [1,K] corrections
        logits = torch.cat([(pos / t).unsqueeze(1), neg_logits], dim=1)
        return torch.logsumexp(logits, dim=1) - pos / t

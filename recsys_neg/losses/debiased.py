"""Debiased contrastive loss (Chuang et al., "Debiased Contrastive Learning", NeurIPS 2020).

Negatives drawn from the data are, with class prior tau+, really positives. The
negative term of InfoNCE is replaced by an estimate of the TRUE negatives' share:

    Ng = max( (sum_j w_j e^{s_j/t} - tau+ * N * e^{s_pos/t}) / (1 - tau+),  N * e^{-1/t} )
    per positive: -log( e^{s_pos/t} / (e^{s_pos/t} + Ng) ),   N = sum_j w_j

(their Eq. 7 with one positive sample, M = 1; the clamp keeps Ng at its theoretical
minimum, e^{-1/t} per negative for cosine scores in [-1, 1]). tau+ = 0 is InfoNCE.
Computed in log space (every term scaled by e^{-max}), so dot-product scores with a
small temperature cannot overflow. Sampler weights count as fractional negatives
(N = sum of weights; weight 0 drops one).

Where this differs from the official code (chingyaoc/DCL, ``debiased_loss``): there
N = 2B - 2 in-batch views of augmented images on normalised vectors; here N is the
sampler's negatives (sum of their weights). ``log_q`` is not used: the estimator assumes
negatives drawn from the data's own marginal, which a proposal correction would change.
With dot-product scores (not bounded by 1) the clamp at e^{-1/t} is the paper's constant,
not a bound; prefer cosine similarity with this loss. The temperature default is the
shared 1.0 (the paper uses 0.5): set it in the recipe.

Choosing tau+ in collaborative filtering: the paper's 0.1 is a 10-class prior (CIFAR-10).
Here the chance that a uniform item is one of the user's positives is mean |I_u| / |I|,
6.6e-4 on Gowalla; at 0.1 the correction subtracts far more than the false negatives
weigh (benchmarks/results/frontier.md measures both).
"""
from __future__ import annotations

import torch
from pydantic import Field

from .base import LOSSES
from .softmax import safe_logsumexp
from .temperature import TemperatureParams, TemperedLoss


class DebiasedParams(TemperatureParams):
    tau_plus: float = Field(0.1, ge=0, lt=1, description="class prior: chance a sampled negative is a positive")


def debiased_terms(pos: torch.Tensor, log_neg_sum: torch.Tensor, log_n: torch.Tensor, t, tau_plus: float,
                   clamp: bool = True) -> torch.Tensor:
    """-log(e^p / (e^p + Ng)) per row, from log(sum_j w_j e^{s_j/t}) and log N, all in log space."""
    p = pos / t
    floor = log_n - 1.0 / t
    m = torch.maximum(torch.maximum(p, log_neg_sum), floor).detach()
    big_p, s = torch.exp(p - m), torch.exp(log_neg_sum - m)
    ng = (s - tau_plus * torch.exp(log_n) * big_p) / (1.0 - tau_plus)
    if clamp:
        ng = torch.maximum(ng, torch.exp(floor - m))
    return -(p - m) + torch.log(big_p + ng)


def weighted_log_count(neg: torch.Tensor, weight: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(log w as [B, K] with -inf for weight 0, log N = log sum w per row)."""
    if weight is None:
        log_w = torch.zeros_like(neg)
    else:
        log_w = torch.log(weight.clamp_min(0)).expand_as(neg)
    return log_w, safe_logsumexp(log_w)


@LOSSES.register("debiased")
class DebiasedContrastiveLoss(TemperedLoss):
    Params = DebiasedParams

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        neg = neg.expand(pos.shape[0], -1)
        t = self.tau()
        log_w, log_n = weighted_log_count(neg, weight)
        return debiased_terms(pos, safe_logsumexp(neg / t + log_w), log_n, t, self.params.tau_plus)


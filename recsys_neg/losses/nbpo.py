"""Noise-robust Bayesian point-wise optimisation (NBPO; Yu & Qin, SIGIR 2020, arXiv 2007.07204).

The model's score s gives the probability of the TRUE preference,
``P(y=1) = R = sigmoid(s)``. The OBSERVED label o (1 for a training
positive, 0 for a sampled unobserved item) is y passed through a label-flip
channel; the loss is the negative log-likelihood of the observed labels:

    P(o=1 | s) = R (1 - eps_fn) + (1 - R) eps_fp
    P(o=0 | s) = R eps_fn       + (1 - R) (1 - eps_fp)
    loss = -log P(o=1 | s_pos) - mean_k log P(o=0 | s_neg_k)

Parameterisation chosen here:
- ``eps_fn`` = P(o=0 | y=1), a liked item left unobserved (NBPO's case: a
  sampled "negative" that is really positive); ``eps_fp`` = P(o=1 | y=0), an
  observed interaction the user does not like (injected / noisy positives).
- Each is ONE global learnable scalar, ``eps = max_flip * sigmoid(theta)``,
  with ``theta`` an ``nn.Parameter`` of this loss (the trainer optimises loss
  parameters alongside the model's). ``max_flip <= 0.5`` keeps
  ``eps_fn + eps_fp < 1`` so an observed label always carries information
  about the true one, which rules out the degenerate "everything is a flip" fit.
- Set ``learn_false_positive`` / ``learn_false_negative`` to false to hold a
  rate at its initial value.

Differences from the official code (Wenhui-Yu/NBPO, ``_NBPO.py``): there the
flip rate of each (user, item) is a second low-rank factorisation
``sigmoid(P_u . Q_i)`` covering the false-negative direction only, trained by
SGD on a surrogate gradient. This module keeps the exact marginal likelihood
(computed in log space, so gradients do not vanish numerically) with global
rates in both directions, because the loss contract sees scores, not ids.
The negatives come from whatever sampler the run uses (the paper: uniform,
excluding positives); NBPO needs no sampler weighting of its own.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from ..registry import Params
from .base import LOSSES, Loss, weighted_mean


class NBPOParams(Params):
    init_false_positive: float = Field(0.05, gt=0, lt=0.5, description="initial P(observed 1 | true 0)")
    init_false_negative: float = Field(0.05, gt=0, lt=0.5, description="initial P(observed 0 | true 1)")
    learn_false_positive: bool = True
    learn_false_negative: bool = True
    max_flip: float = Field(0.5, gt=0, le=0.5, description="upper bound of each flip rate")

    @model_validator(mode="after")
    def _inits_below_max(self) -> "NBPOParams":
        for name in ("init_false_positive", "init_false_negative"):
            if getattr(self, name) >= self.max_flip:
                raise ValueError(f"{name} must be below max_flip ({self.max_flip})")
        return self


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@LOSSES.register("nbpo")
class NBPOLoss(Loss):
    Params = NBPOParams

    def __init__(self, data, params: NBPOParams):
        super().__init__(data, params)
        m = params.max_flip
        self.theta_fp = nn.Parameter(torch.tensor(_logit(params.init_false_positive / m)),
                                     requires_grad=params.learn_false_positive)
        self.theta_fn = nn.Parameter(torch.tensor(_logit(params.init_false_negative / m)),
                                     requires_grad=params.learn_false_negative)

    def flip_rates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps_fp, eps_fn) as tensors attached to the parameters."""
        m = self.params.max_flip
        return m * torch.sigmoid(self.theta_fp), m * torch.sigmoid(self.theta_fn)

    def log_likelihood(self, scores: torch.Tensor, observed: int) -> torch.Tensor:
        """log P(o = observed | score), elementwise."""
        eps_fp, eps_fn = self.flip_rates()
        log_r, log_not_r = F.logsigmoid(scores), F.logsigmoid(-scores)
        if observed == 1:
            return torch.logaddexp(log_r + torch.log1p(-eps_fn), log_not_r + torch.log(eps_fp))
        return torch.logaddexp(log_r + torch.log(eps_fn), log_not_r + torch.log1p(-eps_fp))

    def diagnostics(self) -> dict[str, float]:
        eps_fp, eps_fn = (float(t.detach()) for t in self.flip_rates())
        return {"flip_false_positive": eps_fp, "flip_false_negative": eps_fn}

    def per_example(self, pos, neg, weight=None, log_q=None):
        if neg.dim() == 1:
            neg = neg.unsqueeze(1)
        return -self.log_likelihood(pos, 1) - weighted_mean(self.log_likelihood(neg, 0), weight)

"""Truncated cross-entropy (T-CE, Wang et al., WSDM 2021: "Denoising Implicit Feedback").

Point-wise BCE on (positive, sampled negatives); at each step the positives
with the largest loss are dropped: noisy interactions are hard to fit, so they
keep large losses while clean ones fall. The drop rate rises linearly from 0
at step 0 to ``max_drop_rate`` at ``num_gradual`` steps and stays there
(``step.step`` counts steps across epochs).

Difference from the official code (WenjieWWJ/DenoisingRec): it ranks
positives and negatives together and drops ``rate * (all samples)`` positives;
here ``floor(rate * B)`` of the batch's B positives are dropped, which is the
paper's definition (a fraction of positive interactions) independent of the
number of negatives. Negatives are always kept.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from ..registry import Params
from .base import LOSSES, Loss, weighted_mean


def bce_parts(pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-positive BCE ``-log sigmoid(pos)`` [B] and per-negative ``-log sigmoid(-neg)`` [B,K]."""
    if neg.dim() == 1:
        neg = neg.unsqueeze(1)
    return F.softplus(-pos), F.softplus(neg)


class TCEParams(Params):
    max_drop_rate: float = Field(0.2, ge=0, lt=1, description="fraction of positives dropped after warm-up")
    num_gradual: int = Field(30000, ge=1, description="steps over which the drop rate rises from 0")


@LOSSES.register("tce")
class TruncatedBCELoss(Loss):
    Params = TCEParams

    def drop_rate(self, step: int) -> float:
        return self.params.max_drop_rate * min(step / self.params.num_gradual, 1.0)

    def keep_mask(self, pos_loss: torch.Tensor, step: int) -> torch.Tensor:
        """True for the positives that stay: all but the floor(rate*B) largest losses."""
        n_drop = int(self.drop_rate(step) * pos_loss.shape[0])
        keep = torch.ones_like(pos_loss, dtype=torch.bool)
        if n_drop > 0:
            keep[torch.topk(pos_loss.detach(), n_drop).indices] = False
        return keep

    def per_example(self, pos, neg, weight=None, log_q=None):
        pos_loss, neg_loss = bce_parts(pos, neg)
        return pos_loss + weighted_mean(neg_loss, weight)

    def forward(self, pos, neg, weight=None, log_q=None, step=None):
        pos_loss, neg_loss = bce_parts(pos, neg)
        keep = self.keep_mask(pos_loss, step.step if step is not None else 0)
        # mean over the kept positives' terms plus every negative term, per example
        return (pos_loss * keep).sum() / keep.sum().clamp_min(1) + weighted_mean(neg_loss, weight).mean()

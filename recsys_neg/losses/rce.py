"""Reweighted cross-entropy (R-CE, Wang et al., WSDM 2021: "Denoising Implicit Feedback").

BCE where each term is weighted by the model's own (detached) confidence in
the label: positives by ``sigmoid(s)^beta``, negatives by
``(1 - sigmoid(s))^beta``, as in the official code (WenjieWWJ/DenoisingRec,
R_CE/loss.py). A positive the model finds implausible (a likely noisy
interaction, low score) contributes little; ``beta = 0`` is plain BCE.
``reweight_negatives: false`` weights positives only.
"""
from __future__ import annotations

import torch
from pydantic import Field

from ..registry import Params
from .base import LOSSES, Loss, weighted_mean
from .tce import bce_parts


class RCEParams(Params):
    beta: float = Field(0.25, ge=0, description="exponent of the confidence weight")
    reweight_negatives: bool = True


@LOSSES.register("rce")
class ReweightedBCELoss(Loss):
    Params = RCEParams

    def weights(self, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Detached weights of the positive [B] and negative [B,K] terms."""
        beta = self.params.beta
        w_pos = torch.sigmoid(pos.detach()).pow(beta)
        neg = neg.unsqueeze(1) if neg.dim() == 1 else neg
        w_neg = torch.sigmoid(-neg.detach()).pow(beta) if self.params.reweight_negatives else torch.ones_like(neg)
        return w_pos, w_neg

    def per_example(self, pos, neg, weight=None, log_q=None):
        pos_loss, neg_loss = bce_parts(pos, neg)
        w_pos, w_neg = self.weights(pos, neg)
        # the sampler's weights (if any) still decide how negatives are averaged
        return w_pos * pos_loss + weighted_mean(w_neg * neg_loss, weight)

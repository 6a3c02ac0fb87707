"""False-negative-aware weights around any sampler: ``{name: fn_aware, base: {name: uniform}}``.

A negative the model already scores like a positive is likely an unobserved
positive; its gradient should count less. Two weightings (both decrease with
the negative's score; multiplied into the base sampler's own weights):

- ``sigmoid``: w = 1 - σ((s_neg - τ) / T), with τ absolute or, with
  ``relative: true``, τ = s_pos + margin (negatives scored above the positive
  are the suspects). A soft version of false-negative elimination (Huynh et
  al., "Boosting Contrastive Self-Supervised Learning with False Negative
  Cancellation", WACV 2022).
- ``softmax``: w = K · softmax(-s_neg / T) over the row's K negatives (mean 1),
  the reverse of hard-negative importance weighting — an inverse of Robinson
  et al.'s hard-negative tilt (ICLR 2021). Debiased contrastive learning
  (Chuang et al., NeurIPS 2020) corrects the loss itself instead; that belongs
  in a loss, not a sampler.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, field_validator

from .base import SAMPLERS, Negatives, NegativeSampler, SamplerParams, require_scorer
from .candidates import scores_in_chunks
from .nested import NestedSampler, without_own_count


class FNAwareParams(SamplerParams):
    base: NestedSampler = Field(default_factory=lambda: {"name": "uniform"}, validate_default=True)
    weighting: Literal["sigmoid", "softmax"] = "sigmoid"
    tau: float = Field(0.0, description="sigmoid: score where the weight is 1/2 (absolute)")
    relative: bool = Field(False, description="sigmoid: tau = s_pos + margin instead of absolute")
    margin: float = 0.0
    temperature: float = Field(1.0, gt=0)

    @field_validator("base")
    @classmethod
    def _valid_base(cls, base):
        if SAMPLERS.name_of(base) == "fn_aware":
            raise ValueError("base: fn_aware cannot wrap itself")
        return without_own_count(base, "base", "fn_aware")


def false_negative_weights(neg: torch.Tensor, pos: torch.Tensor | None, p: FNAwareParams) -> torch.Tensor:
    """[B, K] weights for negative scores [B, K] (and positive scores [B] when relative)."""
    if p.weighting == "softmax":
        return torch.softmax(-neg / p.temperature, dim=-1) * neg.shape[-1]
    tau = pos.unsqueeze(1) + p.margin if p.relative else p.tau
    return 1.0 - torch.sigmoid((neg - tau) / p.temperature)


@SAMPLERS.register("fn_aware")
class FNAwareSampler(NegativeSampler):
    Params = FNAwareParams

    def __init__(self, data, params: FNAwareParams, device="cpu", **parts):
        super().__init__(data, params, device)
        self.base = SAMPLERS.build(params.base, data=data, device=device, **parts)

    @property
    def excludes_positives(self) -> bool:
        return self.base.excludes_positives

    def epoch_start(self, step):
        self.base.epoch_start(step)

    def state_dict(self) -> dict:
        return self.base.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.base.load_state_dict(state)

    def sample(self, users, positives, num, step, scorer=None):
        scorer = require_scorer(scorer, "fn_aware")
        neg = self.base.sample(users, positives, num, step, scorer)
        if neg.vectors is not None:  # synthesised negatives: weigh what the step will score
            with torch.no_grad():
                neg_scores = scorer.scores_of(users, neg.vectors)
        else:
            neg_scores = scores_in_chunks(scorer, users, neg.items)
        pos_scores = scorer(users, positives) if self.params.relative else None
        w = false_negative_weights(neg_scores, pos_scores, self.params)
        if neg.weight is not None:
            w = w * neg.weight
        return Negatives(neg.items, log_q=neg.log_q, weight=w, vectors=neg.vectors)

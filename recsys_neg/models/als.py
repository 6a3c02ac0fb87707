"""Alternating least squares for implicit feedback (Hu, Koren & Volinsky, ICDM 2008), via ``implicit``.

The weighted matrix factorisation a CPU user already has: confidence 1 + alpha * r_ui on
every observed interaction, weight 1 on every unobserved one, no sampling at all.
Each epoch is one ALS sweep (users, then items) of implicit's compiled solver, so the
trainer's validation, early stopping, time budget, checkpoints and resume apply as to
any model. Factors are buffers, saved in checkpoints. implicit's solver threads follow
``train.threads`` (torch's thread count at fit time).
"""
from __future__ import annotations

import torch
from pydantic import Field

from ..registry import Params
from .base import MODELS
from .implicit_factors import ImplicitFactorModel


class ALSParams(Params):
    factors: int = Field(128, ge=1)
    alpha: float = Field(40.0, gt=0, description="confidence of an observed interaction: 1 + alpha")
    regularization: float = Field(0.01, ge=0)
    seed: int = 0


@MODELS.register("als")
class ALS(ImplicitFactorModel):
    Params = ALSParams

    def __init__(self, data, params: ALSParams):
        super().__init__(data, params, params.factors)

    def estimator(self, step):
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        return AlternatingLeastSquares(factors=p.factors, regularization=p.regularization, alpha=p.alpha,
                                       iterations=1, random_state=p.seed, num_threads=torch.get_num_threads())

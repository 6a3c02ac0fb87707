"""Alternating least squares for implicit feedback (Hu, Koren & Volinsky, ICDM 2008), via ``implicit``.

The weighted matrix factorisation a CPU user already has: confidence 1 + alpha * r_ui on
every observed interaction, weight 1 on every unobserved one, no sampling at all.
Each epoch is one ALS sweep (users, then items) of implicit's compiled solver, so the
trainer's validation, early stopping, time budget, checkpoints and resume apply as to
any model. Factors are buffers, saved in checkpoints. implicit's solver threads follow
``train.threads`` (torch's thread count at fit time).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from pydantic import Field

from ..registry import Params
from .base import MODELS, Encoded, Model


class ALSParams(Params):
    factors: int = Field(128, ge=1)
    alpha: float = Field(40.0, gt=0, description="confidence of an observed interaction: 1 + alpha")
    regularization: float = Field(0.01, ge=0)
    seed: int = 0


@MODELS.register("als")
class ALS(Model):
    Params = ALSParams
    self_training = True

    def __init__(self, data, params: ALSParams):
        super().__init__(data, params)
        self.train_matrix = data.train
        self.register_buffer("user_factors", torch.zeros(self.n_users, params.factors))
        self.register_buffer("item_factors", torch.zeros(self.n_items, params.factors))
        self.register_buffer("sweeps", torch.zeros((), dtype=torch.long))

    def encode(self) -> Encoded:
        return Encoded(users=self.user_factors, items=self.item_factors)

    def fit_epoch(self, step) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        p = self.params
        als = AlternatingLeastSquares(factors=p.factors, regularization=p.regularization, alpha=p.alpha,
                                      iterations=1, random_state=p.seed, num_threads=torch.get_num_threads())
        if int(self.sweeps) > 0:  # continue from the current factors (implicit initialises only when unset)
            als.user_factors = self.user_factors.cpu().numpy().astype(np.float32)
            als.item_factors = self.item_factors.cpu().numpy().astype(np.float32)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit's own threads do the work; BLAS is limited above, so its thread warning is noise
            warnings.filterwarnings("ignore", message=".*OpenBLAS is configured", category=RuntimeWarning)
            als.fit(self.train_matrix.astype(np.float32), show_progress=False)
        self.user_factors.copy_(torch.from_numpy(np.asarray(als.user_factors)))
        self.item_factors.copy_(torch.from_numpy(np.asarray(als.item_factors)))
        self.sweeps += 1
        return None

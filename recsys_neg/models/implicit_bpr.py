"""BPR matrix factorisation as ``implicit`` trains it (Rendle et al., UAI 2009): the compiled
SGD pass a CPU user already has, one pass over the training interactions per epoch.

Differences from the paper worth knowing when comparing with this engine's ``mf`` + ``bpr``:
implicit draws each negative as the item of a random training interaction, so negatives
follow item popularity rather than the paper's uniform draw; with
``verify_negative_samples`` a draw the user has interacted with is skipped, not redrawn;
and every user vector carries a constant 1 matched by a learned item bias (factors + 1
columns, both kept here). The seed of each pass comes from the step's generator, so a
run is repeatable and an epoch after a resume continues the same stream of seeds.
Factors are buffers, saved in checkpoints; implicit's threads follow ``train.threads``.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from pydantic import Field

from ..registry import Params
from .base import MODELS, Encoded, Model


class ImplicitBPRParams(Params):
    factors: int = Field(64, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    regularization: float = Field(0.01, ge=0)
    verify_negative_samples: bool = True


@MODELS.register("implicit_bpr")
class ImplicitBPR(Model):
    Params = ImplicitBPRParams
    self_training = True

    def __init__(self, data, params: ImplicitBPRParams):
        super().__init__(data, params)
        self.train_matrix = data.train
        width = params.factors + 1  # the last column: 1 for users, the item bias for items
        self.register_buffer("user_factors", torch.zeros(self.n_users, width))
        self.register_buffer("item_factors", torch.zeros(self.n_items, width))
        self.register_buffer("passes", torch.zeros((), dtype=torch.long))

    def encode(self) -> Encoded:
        return Encoded(users=self.user_factors, items=self.item_factors)

    def fit_epoch(self, step) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from threadpoolctl import threadpool_limits

        p = self.params
        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=step.generator, device=step.generator.device))
        bpr = BayesianPersonalizedRanking(factors=p.factors, learning_rate=p.learning_rate,
                                          regularization=p.regularization, iterations=1,
                                          verify_negative_samples=p.verify_negative_samples,
                                          random_state=seed, num_threads=torch.get_num_threads())
        if int(self.passes) > 0:  # continue from the current factors (implicit initialises only when unset)
            bpr.user_factors = self.user_factors.cpu().numpy().astype(np.float32, copy=True)
            bpr.item_factors = self.item_factors.cpu().numpy().astype(np.float32, copy=True)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*OpenBLAS is configured", category=RuntimeWarning)
            bpr.fit(self.train_matrix.astype(np.float32), show_progress=False)
        self.user_factors.copy_(torch.from_numpy(np.asarray(bpr.user_factors)))
        self.item_factors.copy_(torch.from_numpy(np.asarray(bpr.item_factors)))
        self.passes += 1
        return None

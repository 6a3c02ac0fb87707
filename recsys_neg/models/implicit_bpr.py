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

import torch
from pydantic import Field

from ..registry import Params
from .base import MODELS
from .implicit_factors import ImplicitFactorModel


class ImplicitBPRParams(Params):
    factors: int = Field(64, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    regularization: float = Field(0.01, ge=0)
    verify_negative_samples: bool = True


@MODELS.register("implicit_bpr")
class ImplicitBPR(ImplicitFactorModel):
    Params = ImplicitBPRParams

    def __init__(self, data, params: ImplicitBPRParams):
        super().__init__(data, params, params.factors + 1)  # last column: 1 for users, the item bias for items

    def estimator(self, step):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=step.generator, device=step.generator.device))
        return BayesianPersonalizedRanking(factors=p.factors, learning_rate=p.learning_rate,
                                           regularization=p.regularization, iterations=1,
                                           verify_negative_samples=p.verify_negative_samples,
                                           random_state=seed, num_threads=torch.get_num_threads())

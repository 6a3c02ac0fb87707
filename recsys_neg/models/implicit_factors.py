"""Factor models fitted by the ``implicit`` library, one pass per epoch, continuing from their factors.

implicit initialises factors only when they are unset, so a pass started from the
current factors continues training; the factors are buffers, so checkpoints and resume
carry them. implicit's solver threads follow ``train.threads`` (torch's thread count).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .base import Encoded, Model


class ImplicitFactorModel(Model):
    self_training = True

    def __init__(self, data, params, width: int):
        super().__init__(data, params)
        self.train_matrix = data.train
        self.register_buffer("user_factors", torch.zeros(self.n_users, width))
        self.register_buffer("item_factors", torch.zeros(self.n_items, width))
        self.register_buffer("passes", torch.zeros((), dtype=torch.long))

    def encode(self) -> Encoded:
        return Encoded(users=self.user_factors, items=self.item_factors)

    def estimator(self, step):
        """A fresh implicit estimator set to one iteration."""
        raise NotImplementedError(f"{type(self).__name__} does not define estimator()")

    def fit_epoch(self, step) -> None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit checks BLAS threads when an estimator is made
            est = self.estimator(step)
        if int(self.passes) > 0:
            est.user_factors = self.user_factors.cpu().numpy().astype(np.float32, copy=True)
            est.item_factors = self.item_factors.cpu().numpy().astype(np.float32, copy=True)
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit's own threads do the work; BLAS is limited above, so its thread warning is noise
            warnings.filterwarnings("ignore", message=".*OpenBLAS is configured", category=RuntimeWarning)
            est.fit(self.train_matrix.astype(np.float32), show_progress=False)
        self.user_factors.copy_(torch.from_numpy(np.asarray(est.user_factors)))
        self.item_factors.copy_(torch.from_numpy(np.asarray(est.item_factors)))
        self.passes += 1
        return None

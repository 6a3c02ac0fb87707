"""EASE: an item-item linear model with a closed form (Steck, "Embarrassingly Shallow
Autoencoders for Sparse Data", WWW 2019).

    P = (X^T X + l2 * I)^-1,    B = I - P * diagMat(1 / diag(P))    (so diag(B) = 0),
    score(u, j) = sum_i x_ui * B[i, j].

The paper's code computes this with ``np.linalg.inv`` on a float64 Gram matrix (three
n x n matrices at once). Here it is float32 and in place: the Gram matrix is written
block by block into the one n x n buffer the model keeps, LAPACK's Cholesky
factorisation and inverse (``spotrf``/``spotri``, the Gram matrix plus l2 I is
symmetric positive definite) overwrite it, and the column scaling happens there too.
The buffer is the model's state (saved in checkpoints); when a checkpoint is loaded
back for testing a second copy exists for a moment, so the memory check counts two.

The fit is a closed form: it happens in the first epoch, and a run asking for more
than one epoch is refused before anything is built (``max_epochs``), because later
epochs could only repeat it. ``l2`` defaults to 500, the paper's value for ML-20M;
its best values were 200 to 1000 on three datasets with 20k-40k items, so 500 is the
middle of that range, not a tuned figure for any other dataset.
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from ..errors import ConfigError, TrainingError
from ..registry import Params
from .base import MODELS, Encoded, Model, Ranker
from .item_item import TrainRows, memory_estimate


class EASEParams(Params):
    l2: float = Field(500.0, gt=0, description="lambda: added to the Gram matrix's diagonal")
    memory_budget_mb: int = Field(
        4096, ge=1, description="refuse catalogues whose n_items x n_items float32 matrix, counted twice "
                                "(the model and a checkpoint copy), exceeds this")


def check_memory(n_items: int, budget_mb: int) -> None:
    need = memory_estimate(n_items, copies=2)
    if need > budget_mb * 2 ** 20:
        one = memory_estimate(n_items, copies=1)
        raise ConfigError(
            f"model.ease: {n_items} items need a {n_items} x {n_items} float32 matrix of {one / 2**30:.2f} GiB, "
            f"{need / 2**30:.2f} GiB at peak (a second copy while a checkpoint is read back), more than "
            f"model.memory_budget_mb={budget_mb} ({budget_mb / 1024:.2f} GiB). Raise model.memory_budget_mb if "
            f"the machine has that memory free, or use model.name=itemknn (sparse) for a catalogue this large.")


def ease_in_place(train: sp.csr_matrix, l2: float, out: np.ndarray, block: int = 1024,
                  timings: dict | None = None) -> np.ndarray:
    """Write EASE's B for ``train`` into ``out`` (float32, C-contiguous, n x n) without another n x n array.

    ``timings``, when given, receives the seconds of each phase (gram, cholesky, inverse, scale).
    """
    from scipy.linalg import lapack

    clock = _Clock(timings)

    n = train.shape[1]
    if out.shape != (n, n) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape ({n}, {n})")
    x = train.tocsr().astype(np.float32)
    xc = x.tocsc()
    for lo in range(0, n, block):  # Gram matrix X^T X, a block of rows at a time
        hi = min(n, lo + block)
        out[lo:hi] = 0.0
        (xc[:, lo:hi].T @ x).toarray(out=out[lo:hi])
    out.flat[:: n + 1] += np.float32(l2)
    clock("gram")
    # out.T is the same symmetric matrix in Fortran order, so LAPACK works in place on it;
    # its lower triangle is out's upper one.
    f = out.T
    c, info = lapack.spotrf(f, lower=1, clean=0, overwrite_a=1)
    if info != 0 or not np.shares_memory(c, out):
        raise TrainingError(f"EASE: Cholesky factorisation failed (LAPACK info {info}); "
                            f"is model.l2={l2} large enough for float32?")
    clock("cholesky")
    c, info = lapack.spotri(c, lower=1, overwrite_c=1)
    if info != 0 or not np.shares_memory(c, out):
        raise TrainingError(f"EASE: inverting the factorised matrix failed (LAPACK info {info})")
    clock("inverse")
    _mirror_upper(out, block)
    diag = out.diagonal().copy()
    out /= -diag[None, :]  # B[i, j] = -P[i, j] / P[j, j]
    out.flat[:: n + 1] = 0.0
    clock("scale")
    return out


class _Clock:
    def __init__(self, sink: dict | None):
        self.sink, self.t = sink, time.perf_counter()

    def __call__(self, phase: str) -> None:
        if self.sink is not None:
            now = time.perf_counter()
            self.sink[phase] = now - self.t
            self.t = now


def _mirror_upper(a: np.ndarray, block: int) -> None:
    """Copy the upper triangle of the square array ``a`` onto its lower one, a block of rows at a time."""
    n = a.shape[0]
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        a[lo:hi, :lo] = a[:lo, lo:hi].T
        diag = a[lo:hi, lo:hi]
        low = np.tril_indices(hi - lo, -1)
        diag[low] = diag.T[low]


@MODELS.register("ease")
class EASE(Model):
    Params = EASEParams
    self_training = True
    max_epochs = 1

    def __init__(self, data, params: EASEParams):
        check_memory(data.n_items, params.memory_budget_mb)  # before the n x n buffer exists
        super().__init__(data, params)
        self.rows = TrainRows(data.train)
        self.register_buffer("weights", torch.zeros(self.n_items, self.n_items))

    def fit_epoch(self, step) -> None:
        from threadpoolctl import threadpool_limits

        on_cpu = self.weights.device.type == "cpu"
        out = self.weights.numpy() if on_cpu else np.empty((self.n_items, self.n_items), np.float32)
        with threadpool_limits(torch.get_num_threads(), "blas"):  # LAPACK follows train.threads
            ease_in_place(self.rows.matrix, self.params.l2, out)
        if not on_cpu:
            self.weights.copy_(torch.from_numpy(out))
        return None

    def encode(self) -> Encoded:
        return Encoded(users=None, items=self.weights.T)  # item j's vector: column j of B

    def user_vectors(self, enc: Encoded, users: torch.Tensor) -> torch.Tensor:
        return self.rows.dense(users, self.weights.device)

    def _ranker(self) -> Ranker:
        w = self.weights
        return Ranker(lambda users: torch.sparse.mm(self.rows.sparse(users, w.device), w), w.device)

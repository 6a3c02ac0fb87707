"""What item-item models (EASE, ItemKNN) share: a user is its row of the training matrix.

Such a model scores ``score(u, j) = sum_i x_ui * W[i, j]`` for an item-item matrix ``W``.
Through the model contract the user vector is the user's training row (length
n_items) and the item vector is column ``j`` of ``W``; ranking multiplies a block of
sparse training rows by ``W`` instead, which costs nnz(rows) x n_items, not users x
items x items.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .propagation import to_torch_csr


class TrainRows:
    """The training matrix's rows, as dense or sparse torch tensors for a batch of users."""

    def __init__(self, train: sp.csr_matrix):
        self.matrix = train.tocsr().astype(np.float32)

    def scipy(self, users: torch.Tensor) -> sp.csr_matrix:
        return self.matrix[users.detach().cpu().numpy()]

    def dense(self, users: torch.Tensor, device: torch.device) -> torch.Tensor:
        """[..., n_items] rows for users of any shape."""
        flat = users.reshape(-1)
        rows = torch.from_numpy(self.scipy(flat).toarray())
        return rows.reshape(*users.shape, self.matrix.shape[1]).to(device)

    def sparse(self, users: torch.Tensor, device: torch.device) -> torch.Tensor:
        """[B, n_items] torch sparse CSR rows (for ``torch.sparse.mm`` against a dense matrix)."""
        return to_torch_csr(self.scipy(users), device)


def memory_estimate(n_items: int, copies: int = 2, itemsize: int = 4) -> int:
    """Bytes of ``copies`` dense n_items x n_items matrices."""
    return copies * n_items * n_items * itemsize

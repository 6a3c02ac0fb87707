"""Sparse graph propagation for LightGCN-style models.

``torch.sparse.mm`` on CSR differentiates through the transpose, which costs
most of the step. LightGCN's normalised adjacency is symmetric, so the
gradient of ``A @ x`` is again ``A @ grad``: ``SymmetricSpMM`` uses that.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def normalized_adjacency(train: sp.csr_matrix) -> sp.csr_matrix:
    """D^-1/2 [[0, R], [R^T, 0]] D^-1/2 for the user-item bipartite graph."""
    n_users, n_items = train.shape
    r = train.tocsr().astype(np.float32)
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg)
    nz = deg > 0
    inv_sqrt[nz] = deg[nz] ** -0.5
    d = sp.diags(inv_sqrt)
    out = (d @ adj @ d).tocsr()
    out.sort_indices()
    return out.astype(np.float32)


def to_torch_csr(m: sp.csr_matrix, device: torch.device | str = "cpu") -> torch.Tensor:
    with warnings.catch_warnings():  # "CSR support is in beta": we rely on mm only
        warnings.simplefilter("ignore", UserWarning)
        return _to_torch_csr(m, device)


def _to_torch_csr(m: sp.csr_matrix, device) -> torch.Tensor:
    return torch.sparse_csr_tensor(  # invariants hold: built from a checked scipy CSR
        torch.from_numpy(m.indptr.astype(np.int64)),
        torch.from_numpy(m.indices.astype(np.int64)),
        torch.from_numpy(m.data.astype(np.float32)),
        size=m.shape, check_invariants=False,
    ).to(device)


class SymmetricSpMM(torch.autograd.Function):
    """y = A @ x for a symmetric sparse A; backward is A @ grad_y."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, torch.sparse.mm(ctx.adj, grad.contiguous())


def propagate(adj: torch.Tensor, x: torch.Tensor, layers: int, symmetric: bool = True,
              keep_layers: bool = False):
    """Mean of x, Ax, A^2x, ..., A^Lx (LightGCN's layer combination with alpha = 1/(L+1)).

    ``keep_layers`` returns ``[x, Ax, ..., A^Lx, mean]``: the same computation, the
    intermediate tensors kept."""
    spmm = SymmetricSpMM.apply if symmetric else torch.sparse.mm
    out, h, kept = x, x, [x]
    for _ in range(layers):
        h = spmm(adj, h)
        out = out + h
        kept.append(h)
    mean = out / (layers + 1)
    return [*kept, mean] if keep_layers else mean

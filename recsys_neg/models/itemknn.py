"""ItemKNN: cosine item-item neighbourhoods on the training matrix (Sarwar et al., WWW 2001;
the strong, tuned form in Dacrema et al., "Are We Really Making Much Progress?", RecSys 2019).

    sim(i, j)   = |U_i & U_j| / (sqrt(|U_i|) * sqrt(|U_j|) + shrink)      (i != j; sim(j, j) = 0)
    W[:, j]     = the ``neighbors`` largest sim(., j), zero elsewhere  (the neighbours of target j)
    score(u, j) = sum_i x_ui * W[i, j]

Pruning is per target column, as in Dacrema et al.'s ``Compute_Similarity`` (their
default shrink is 10 and they tune neighbours in 5..1000; here shrink defaults to 0,
plain cosine, and neighbours to 100). The similarity is computed a block of target
items at a time as a sparse product ``X^T X[:, block]``, densified per block only for
the top-k, so memory stays at n_items x block floats. The state is two fixed-shape
buffers, the neighbours of every item and their weights (n_items x k), so checkpoints
load like any model's; ranking multiplies sparse training rows by the sparse W. Ties in
similarity are broken by ``torch.topk`` (an arbitrary but deterministic order).

Like EASE it is fitted in one epoch (``max_epochs``).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from ..registry import Params
from .base import MODELS, Encoded, Model, Ranker
from .item_item import TrainRows


class ItemKNNParams(Params):
    neighbors: int = Field(100, ge=1, description="neighbours kept per item (capped at n_items - 1)")
    shrink: float = Field(0.0, ge=0, description="added to the cosine's denominator: damps pairs seen rarely")


def knn_neighbours(train: sp.csr_matrix, k: int, shrink: float, block: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(items [n, k], weights [n, k]): row j holds target j's k most similar items and their cosine."""
    x = train.tocsc().astype(np.float32)
    x.data[:] = 1.0
    n = x.shape[1]
    block = block or max(1, min(1024, 2 ** 25 // n))  # a few dense [n, block] float32 arrays at a time
    norms = np.sqrt(np.asarray(x.sum(0)).ravel()).astype(np.float32)
    xt = x.T.tocsr()
    items = np.zeros((n, k), np.int64)
    weights = np.zeros((n, k), np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        co = torch.from_numpy((xt @ x[:, lo:hi]).toarray())  # [n, block] co-occurrence counts
        denom = torch.from_numpy(np.outer(norms, norms[lo:hi]) + np.float32(shrink))
        sim = torch.where(denom > 0, co / denom.clamp(min=1e-30), torch.zeros(()))
        sim[torch.arange(lo, hi), torch.arange(hi - lo)] = 0.0  # an item is not its own neighbour
        top = torch.topk(sim, k, dim=0)
        items[lo:hi], weights[lo:hi] = top.indices.T.numpy(), top.values.T.numpy()
    return items, weights


@MODELS.register("itemknn")
class ItemKNN(Model):
    Params = ItemKNNParams
    self_training = True
    max_epochs = 1

    def __init__(self, data, params: ItemKNNParams):
        super().__init__(data, params)
        self.rows = TrainRows(data.train)
        self.k = max(1, min(params.neighbors, self.n_items - 1))
        self.register_buffer("neighbor_items", torch.zeros(self.n_items, self.k, dtype=torch.long))
        self.register_buffer("neighbor_weights", torch.zeros(self.n_items, self.k))

    def fit_epoch(self, step) -> None:
        items, weights = knn_neighbours(self.rows.matrix, self.k, self.params.shrink)
        self.neighbor_items.copy_(torch.from_numpy(items))
        self.neighbor_weights.copy_(torch.from_numpy(weights))
        return None

    def weight_matrix(self) -> sp.csr_matrix:
        """W as scipy CSR: W[i, j] = weight of neighbour i of target j."""
        n = self.n_items
        w = self.neighbor_weights.cpu().numpy().ravel()
        rows = self.neighbor_items.cpu().numpy().ravel()
        cols = np.repeat(np.arange(n), self.k)
        keep = w != 0
        return sp.csr_matrix((w[keep], (rows[keep], cols[keep])), shape=(n, n))

    def encode(self) -> Encoded:
        return Encoded(users=None, items=self.neighbor_weights, extra=self.neighbor_items)

    def user_vectors(self, enc: Encoded, users: torch.Tensor) -> torch.Tensor:
        return self.rows.dense(users, self.neighbor_weights.device)

    def item_vectors(self, enc: Encoded, items: torch.Tensor) -> torch.Tensor:
        """Dense columns of W for the given items ([..., n_items]): for scoring a few pairs, not ranking."""
        out = torch.zeros(*items.shape, self.n_items, device=enc.items.device)
        return out.scatter_(-1, enc.extra[items], enc.items[items])

    def _ranker(self) -> Ranker:
        w = self.weight_matrix()
        device = self.neighbor_weights.device
        return Ranker(lambda users: torch.from_numpy((self.rows.scipy(users) @ w).toarray()).to(device), device)

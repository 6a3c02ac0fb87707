"""Small hand-made datasets and fakes shared by the tests (no file reading involved)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys_neg.data.interactions import Interactions
from recsys_neg.models.base import Encoded, Model, ModelScorer, Ranker
from recsys_neg.registry import Params
from recsys_neg.step import Step


def random_interactions(n_users=50, n_items=40, density=0.2, seed=0, with_splits=True) -> Interactions:
    rng = np.random.default_rng(seed)
    full = rng.random((n_users, n_items)) < density
    full[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # nobody is empty
    part = rng.random((n_users, n_items))
    train = full & (part < 0.7)
    valid = full & (part >= 0.7) & (part < 0.8) if with_splits else None
    test = full & (part >= 0.8) if with_splits else None
    csr = lambda m: None if m is None else sp.csr_matrix(m.astype(np.float32))  # noqa: E731
    return Interactions(csr(train), csr(valid), csr(test), np.arange(n_users), np.arange(n_items), "random")


def make_step(seed: int = 0, epoch: int = 1, step: int = 1, device: str = "cpu") -> Step:
    return Step(epoch, step, torch.Generator(device=device).manual_seed(seed))


def scorer_for(model: Model) -> ModelScorer:
    """The step scorer a trainer would hand to samplers, from one encode()."""
    return ModelScorer(model, model.encode())


class TableModel(Model):
    """Fixed scores from a [n_users, n_items] table: score(u, i) = table[u, i].

    Ranks and scores through the model contract (user vector = one-hot row,
    item vectors = the table's columns), so evaluator, samplers and PLD see
    exactly the table.
    """

    trainable = False

    def __init__(self, table):
        table = torch.as_tensor(table, dtype=torch.float32)
        super().__init__(_Shape(*table.shape), Params())
        self.register_buffer("table", table)

    def encode(self) -> Encoded:
        return Encoded(users=None, items=self.table.T)

    def user_vectors(self, enc, users):
        return torch.nn.functional.one_hot(users, self.n_users).float()

    def _ranker(self) -> Ranker:
        return Ranker(lambda users: self.table[users], self.table.device)


class _Shape:
    def __init__(self, n_users, n_items):
        self.n_users, self.n_items = n_users, n_items

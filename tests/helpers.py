"""Small hand-made datasets for unit tests (no file reading involved)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_neg.data.interactions import Interactions


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

"""The built-in synthetic dataset: shape, determinism, realism and learnability."""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from recsys_neg.data import DataConfig, build_interactions, generate_synthetic
from recsys_neg.data.sources.synthetic import SyntheticSource

SMALL = SyntheticSource(n_users=500, n_items=400, mean_interactions=30)


def test_deterministic_by_seed():
    a, b = generate_synthetic(SMALL), generate_synthetic(SMALL)
    assert a.equals(b)
    c = generate_synthetic(SMALL.model_copy(update={"seed": 1}))
    assert not (len(a) == len(c) and a["item"].equals(c["item"]))


def test_default_size_and_speed():
    start = time.perf_counter()
    df = generate_synthetic()
    elapsed = time.perf_counter() - start
    assert elapsed < 5  # about 0.2 s; generous for busy machines
    cfg = SyntheticSource()
    assert df["user"].nunique() == cfg.n_users
    assert df["item"].between(0, cfg.n_items - 1).all()
    per_user = df.groupby("user").size()
    assert per_user.min() >= 3 and per_user.max() <= 0.2 * cfg.n_items
    assert abs(per_user.mean() - cfg.mean_interactions) < 0.15 * cfg.mean_interactions
    assert per_user.std() > 10  # activity varies from user to user


def test_no_duplicates_and_increasing_time():
    df = generate_synthetic(SMALL)
    assert not df.duplicated(["user", "item"]).any()
    assert (df.groupby("user")["timestamp"].diff().dropna() > 0).all()


def test_item_popularity_is_heavy_tailed():
    df = generate_synthetic()
    degree = np.sort(np.bincount(df["item"], minlength=1500))[::-1]
    assert degree[:150].sum() / degree.sum() > 0.3
    assert degree[0] > 10 * np.median(degree)
    flat = generate_synthetic(SyntheticSource(popularity_exponent=0.0))
    flat_degree = np.sort(np.bincount(flat["item"], minlength=1500))[::-1]
    assert flat_degree[:150].sum() < degree[:150].sum()


def _recall_at_20(scores, train, test) -> float:
    scores = np.array(scores, dtype=np.float64)
    scores[train.nonzero()] = -np.inf
    top = np.argpartition(-scores, 20, axis=1)[:, :20]
    hits = np.asarray(test[np.arange(train.shape[0])[:, None], top].sum(1)).ravel()
    n = np.asarray(test.sum(1)).ravel()
    keep = n > 0
    return float((hits[keep] / np.minimum(n[keep], 20)).mean())


def test_dot_product_model_beats_popularity():
    inter = build_interactions(DataConfig(split={"valid_ratio": 0.0, "test_ratio": 0.2}))
    train, test = inter.train.astype(np.float64), inter.test
    pop = np.tile(inter.item_popularity, (inter.n_users, 1))
    u, s, vt = svds(sp.csr_matrix(train), k=16)
    svd = (u * s) @ vt
    assert _recall_at_20(svd, train, test) > 1.2 * _recall_at_20(pop, train, test)

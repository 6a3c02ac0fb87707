"""Baselines as models: EASE and ItemKNN against independent dense computations, implicit's BPR
against implicit's own continued fit, and the closed forms' refusals (memory, epochs)."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from implicit.cpu.bpr import BayesianPersonalizedRanking

from recsys_neg.config import config_from_dict
from recsys_neg.data.interactions import Interactions
from recsys_neg.errors import ConfigError
from recsys_neg.models import build_model
from recsys_neg.pipeline import run_pipeline
from recsys_neg.runs.assemble import build_parts
from recsys_neg.step import Step

from helpers import make_step, random_interactions


def _data(x: np.ndarray) -> Interactions:
    n_users, n_items = x.shape
    return Interactions(sp.csr_matrix(x.astype(np.float32)), None, None, np.arange(n_users), np.arange(n_items))


def _ranked(model, users) -> np.ndarray:
    with model.ranking() as rank:
        return rank(torch.as_tensor(users)).numpy()


# ---- EASE -------------------------------------------------------------------------
def test_ease_equals_its_closed_form():
    x = (np.random.default_rng(0).random((40, 12)) < 0.3).astype(np.float64)
    model = build_model({"name": "ease", "l2": 3.0}, _data(x))
    model.fit_epoch(make_step())
    # Steck (2019), eq. 8, computed densely in float64 with numpy's inverse
    p = np.linalg.inv(x.T @ x + 3.0 * np.eye(12))
    b = np.eye(12) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(model.weights.numpy(), b, atol=1e-5)
    assert np.all(np.diag(model.weights.numpy()) == 0)
    np.testing.assert_allclose(_ranked(model, np.arange(40)), x @ b, atol=1e-4)


def test_ease_refuses_a_catalogue_over_its_memory_budget_before_allocating():
    class Huge:  # 10^6 items: the matrix alone would be 3.6 TiB, so reaching an allocation would fail loudly
        n_users, n_items = 10, 1_000_000

    with pytest.raises(ConfigError, match=r"1000000 items.*3725\.29 GiB.*7450\.58 GiB at peak.*memory_budget_mb=4096"):
        build_model({"name": "ease"}, Huge())
    build_model({"name": "ease", "memory_budget_mb": 1}, random_interactions(20, 60))  # 2 x 60^2 x 4 B: 28 KiB
    with pytest.raises(ConfigError, match="memory_budget_mb=1"):
        build_model({"name": "ease", "memory_budget_mb": 1}, random_interactions(20, 400))  # 1.2 MiB


@pytest.mark.parametrize("name", ["ease", "itemknn"])
def test_closed_forms_refuse_more_than_one_epoch(name):
    cfg = config_from_dict({"data": {"source": {"source": "synthetic", "n_users": 50, "n_items": 40}},
                            "model": {"name": name}, "train": {"epochs": 3}, "eval": {"ks": [20]},
                            "tracking": {"enabled": False}})
    with pytest.raises(ConfigError, match=f"train.epochs=3: model '{name}' is fitted in closed form.*epochs: 1"):
        build_parts(cfg)


# ---- ItemKNN ----------------------------------------------------------------------
def _dense_itemknn(x: np.ndarray, k: int, shrink: float) -> np.ndarray:
    """Cosine with shrinkage, diagonal zeroed, top-k per target column kept: written out loop by loop."""
    n = x.shape[1]
    sim = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                denom = np.sqrt(x[:, i].sum()) * np.sqrt(x[:, j].sum()) + shrink
                sim[i, j] = (x[:, i] * x[:, j]).sum() / denom if denom > 0 else 0.0
    w = np.zeros((n, n))
    for j in range(n):
        keep = sorted(range(n), key=lambda i: -sim[i, j])[:k]
        w[keep, j] = sim[keep, j]
    return w


def _no_tie_at(sim: np.ndarray, k: int) -> bool:
    cols = [sorted((sim[i, j] for i in range(len(sim)) if i != j), reverse=True) for j in range(len(sim))]
    return all(c[k - 1] - c[k] > 1e-6 for c in cols)


@pytest.mark.parametrize("k,shrink", [(2, 0.0), (3, 1.5), (20, 0.0)])
def test_itemknn_equals_a_dense_hand_computation(k, shrink):
    x = (np.random.default_rng(2).random((30, 8)) < 0.35).astype(np.float64)
    n = x.shape[1]
    full = _dense_itemknn(x, n - 1, shrink)
    if k < n - 1:  # the cut-off is well defined: no two similarities of a column tie at it
        assert _no_tie_at(full, k)
    model = build_model({"name": "itemknn", "neighbors": k, "shrink": shrink}, _data(x))
    model.fit_epoch(make_step())
    w = _dense_itemknn(x, min(k, n - 1), shrink)
    np.testing.assert_allclose(model.weight_matrix().toarray(), w, atol=1e-6)
    np.testing.assert_allclose(_ranked(model, np.arange(30)), x @ w, atol=1e-5)
    if k < n - 1:  # pruning removed something: the unpruned matrix scores differently
        assert (w != 0).sum() == n * k and not np.allclose(x @ w, x @ full)


# ---- implicit's BPR -----------------------------------------------------------------
def test_implicit_bpr_epochs_continue_implicits_own_fit():
    data = random_interactions(60, 45, density=0.2, seed=4)
    model = build_model({"name": "implicit_bpr", "factors": 8, "learning_rate": 0.05}, data)
    gen = torch.Generator().manual_seed(7)
    for epoch in (1, 2, 3):
        model.fit_epoch(Step(epoch, epoch, gen))
    again = torch.Generator().manual_seed(7)  # the seeds the model drew, one per epoch
    seeds = [int(torch.randint(2 ** 31 - 1, (1,), generator=again)) for _ in range(3)]
    ref = BayesianPersonalizedRanking(factors=8, learning_rate=0.05, regularization=0.01, iterations=1,
                                      random_state=seeds[0], num_threads=1)
    ref.fit(data.train.astype(np.float32), show_progress=False)
    for seed in seeds[1:]:  # implicit keeps its factors across fit() calls; only the seed changes
        ref.random_state = seed
        ref.fit(data.train.astype(np.float32), show_progress=False)
    np.testing.assert_allclose(model.user_factors.numpy(), ref.user_factors, atol=1e-6)
    np.testing.assert_allclose(model.item_factors.numpy(), ref.item_factors, atol=1e-6)


def _run(tmp_path, model, epochs):
    return run_pipeline(config_from_dict({
        "data": {"source": {"source": "synthetic", "n_users": 300, "n_items": 200, "seed": 1}},
        "model": model, "train": {"epochs": epochs, "threads": 1, "progress": False, "early_stopping": None},
        "eval": {"ks": [20]}, "tracking": {"enabled": False}, "output_dir": str(tmp_path)}))


def test_baselines_train_in_a_pipeline_and_beat_popularity(tmp_path):
    pop = _run(tmp_path, {"name": "mostpop"}, 1).test["recall@20"]
    bpr = _run(tmp_path, {"name": "implicit_bpr", "factors": 32}, 100)  # 0.39 vs 0.32 when written
    assert bpr.test["recall@20"] > pop * 1.15
    assert all(h["epoch_seconds"] > 0 for h in bpr.history)
    for model in ({"name": "ease", "l2": 20.0}, {"name": "itemknn", "neighbors": 50}):
        res = _run(tmp_path, model, 1)
        assert res.test["recall@20"] > pop * 1.2, (model, res.test, pop)

"""Evaluator behaviour: masking, user handling, batching, model hooks, devices."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from recsys_neg.data.interactions import Interactions
from recsys_neg.errors import ConfigError, TrainingError
from recsys_neg.evaluation import EvalResult, Evaluator
from recsys_neg.models.base import Ranker

from helpers import TableModel


def _csr(pairs, shape):
    r, c = np.array(pairs).T
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=shape)


def _data(seed=0, n_users=50, n_items=70, with_valid=True):
    rng = np.random.default_rng(seed)
    parts = {"train": [], "valid": [], "test": []}
    for u in range(n_users):
        items = rng.permutation(n_items)
        n_tr, n_va, n_te = rng.integers(1, 12), rng.integers(1, 6), rng.integers(0, 8)
        cuts = np.split(items, np.cumsum([n_tr, n_va, n_te]))
        for name, its in zip(parts, cuts):
            parts[name] += [(u, i) for i in its]
    shape = (n_users, n_items)
    return Interactions(_csr(parts["train"], shape), _csr(parts["valid"], shape) if with_valid else None,
                        _csr(parts["test"], shape), np.arange(n_users), np.arange(n_items))


def _leaky_table(data, seed=0):
    """Train items score 3, valid 2, test 1, the rest below 1: only masking lets the target win."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(data.n_users, data.n_items, generator=g) * 0.5
    for bonus, m in ((1.0, data.test), (2.0, data.valid), (3.0, data.train)):
        if m is not None:
            t += bonus * torch.from_numpy(m.toarray())
    return t


def test_training_items_are_masked_on_valid():
    data = _data()
    res = Evaluator(data, ks=(5, 10)).evaluate(TableModel(_leaky_table(data)), "valid")
    # the valid items fill the top ranks, so the ranking is ideal for every user
    np.testing.assert_allclose(res.per_user["ndcg@10"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(res.per_user["hit@5"], 1.0)
    n_valid = np.diff(data.valid.indptr)[res.users]
    np.testing.assert_allclose(res.per_user["precision@10"], np.minimum(n_valid, 10) / 10, rtol=1e-6)


def test_valid_items_are_masked_on_test():
    data = _data()
    res = Evaluator(data, ks=(5, 10)).evaluate(TableModel(_leaky_table(data)), "test")
    np.testing.assert_allclose(res.per_user["ndcg@10"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(res.per_user["recall@10"], 1.0, rtol=1e-6)  # at most 7 test items


def test_test_without_valid_split_masks_train_only():
    data = _data(with_valid=False)
    table = _leaky_table(data)
    res = Evaluator(data, ks=(10,)).evaluate(TableModel(table), "test")
    np.testing.assert_allclose(res.per_user["ndcg@10"], 1.0, rtol=1e-6)
    with pytest.raises(ConfigError, match="no valid split"):
        Evaluator(data).evaluate(TableModel(table), "valid")


def test_users_with_no_target_items_are_skipped():
    data = _data()
    res = Evaluator(data, ks=(10,)).evaluate(TableModel(_leaky_table(data)), "test")
    n_test = np.diff(data.test.indptr)
    assert res.users.tolist() == np.flatnonzero(n_test).tolist()
    assert res.n_users_skipped == int((n_test == 0).sum()) > 0


def test_per_user_frame_aligns_with_users():
    data = _data(seed=3)
    model = TableModel(torch.rand(data.n_users, data.n_items, generator=torch.Generator().manual_seed(3)))
    ev = Evaluator(data, ks=(5, 20))
    res = ev.evaluate(model, "valid")
    frame = res.per_user_frame()
    assert list(frame.columns) == ["user", *ev.names]
    assert frame["user"].tolist() == res.users.tolist()
    for name in ev.names:
        np.testing.assert_array_equal(frame[name].to_numpy(), res.per_user[name])
    # each row belongs to its user: evaluating that user alone gives the same values
    for u in res.users[[0, 7, -1]]:
        alone = ev.evaluate(model, "valid", users=[u])
        row = frame[frame["user"] == u].iloc[0]
        for name in ev.names:
            assert row[name] == pytest.approx(alone.metrics[name], abs=1e-7)


def test_to_dict_is_json_able():
    data = _data()
    res = Evaluator(data, ks=(10,), metrics=("recall", "ndcg")).evaluate(
        TableModel(_leaky_table(data)), "test")
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d["metrics"]) == {"recall@10", "ndcg@10"}
    assert d["n_users"] == res.n_users and d["skipped"] == res.n_users_skipped
    assert d["seconds"] >= 0 and isinstance(res, EvalResult)


def test_k_larger_than_items_raises():
    data = _data(n_items=70)
    with pytest.raises(ConfigError, match=r"eval K=100 is larger than the number of items \(70\)"):
        Evaluator(data, ks=(10, 100))
    Evaluator(data, ks=(70,))  # K == n_items is allowed
    with pytest.raises(ConfigError, match="valid metrics are"):
        Evaluator(data, metrics=("recall", "auc"))
    with pytest.raises(ConfigError, match="batch_size"):
        Evaluator(data, batch_size=0)


def test_results_identical_across_batch_sizes():
    data = _data(seed=5)
    model = TableModel(torch.rand(data.n_users, data.n_items, generator=torch.Generator().manual_seed(5)))
    a = Evaluator(data, ks=(1, 10, 20), batch_size=7).evaluate(model, "test")
    b = Evaluator(data, ks=(1, 10, 20), batch_size=1000).evaluate(model, "test")
    assert a.users.tolist() == b.users.tolist()
    assert a.metrics == b.metrics
    for name in a.per_user:
        np.testing.assert_array_equal(a.per_user[name], b.per_user[name])


class RecordingModel(TableModel):
    """Records how often representations are built and the state ranking runs in."""

    def __init__(self, table):
        super().__init__(table)
        self.calls = []

    def _ranker(self):
        self.calls.append("prepare")

        def rank(users):
            self.calls.append(("scores", self.training, torch.is_grad_enabled()))
            return self.table[users]
        return Ranker(rank, self.table.device)


@pytest.mark.parametrize("training", [True, False])
def test_ranking_runs_once_in_eval_mode_without_grad(training):
    data = _data()
    model = RecordingModel(_leaky_table(data)).train(training)
    Evaluator(data, ks=(10,), batch_size=16).evaluate(model, "test")
    assert model.training is training  # restored after the block
    assert model.calls[0] == "prepare" and model.calls.count("prepare") == 1
    scoring = model.calls[1:]
    assert len(scoring) == -(-len(np.flatnonzero(np.diff(data.test.indptr))) // 16)
    assert all(c == ("scores", False, False) for c in scoring)


class PopularityModel(TableModel):
    """Returns a broadcast view of one shared vector: the evaluator must not write into it."""

    def __init__(self, pop):
        super().__init__(pop.unsqueeze(0))
        self.pop = pop

    def _ranker(self):
        return Ranker(lambda users: self.pop.expand(len(users), -1), self.pop.device)


def test_view_scores_are_not_modified():
    data = _data()
    pop = torch.from_numpy(np.bincount(data.train.indices, minlength=data.n_items).astype(np.float32))
    pop += torch.rand(data.n_items) * 0.1
    before = pop.clone()
    model = PopularityModel(pop)
    res = Evaluator(data, ks=(10,)).evaluate(model, "test")
    assert torch.equal(model.pop, before)
    assert res.n_users > 0


def test_masked_item_is_never_a_hit_even_when_k_reaches_it():
    # item 2 is both a training and a test item; with K = n_items the masked
    # items enter the top K (at -inf) but must not count as hits
    shape = (1, 5)
    data = Interactions(_csr([(0, 0), (0, 1), (0, 2)], shape), None, _csr([(0, 2), (0, 3)], shape),
                        np.arange(1), np.arange(5))
    table = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.5]])
    res = Evaluator(data, ks=(5,), metrics=("recall", "precision")).evaluate(TableModel(table), "test")
    assert res.metrics["recall@5"] == pytest.approx(0.5)
    assert res.metrics["precision@5"] == pytest.approx(0.2)


def test_nan_scores_raise():
    data = _data()
    table = _leaky_table(data)
    table[3, 5] = float("nan")
    with pytest.raises(TrainingError, match="NaN"):
        Evaluator(data, ks=(10,)).evaluate(TableModel(table), "valid")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    data = _data(seed=7)
    table = torch.rand(data.n_users, data.n_items, generator=torch.Generator().manual_seed(7))
    ev = Evaluator(data, ks=(1, 10, 20), batch_size=9)
    cpu = ev.evaluate(TableModel(table), "test")
    gpu_model = TableModel(table).cuda()
    gpu = ev.evaluate(gpu_model, "test")
    assert gpu_model.table.is_cuda
    assert gpu.users.tolist() == cpu.users.tolist()
    for name in cpu.per_user:
        np.testing.assert_allclose(gpu.per_user[name], cpu.per_user[name], atol=1e-6, err_msg=name)

"""Metrics checked against pytrec_eval and against plain-Python loops written here."""
import math

import numpy as np
import pytest
import pytrec_eval
import scipy.sparse as sp
import torch

from recsys_neg.data.interactions import Interactions
from recsys_neg.errors import ConfigError
from recsys_neg.evaluation import (
    METRICS,
    Evaluator,
    compute_metrics,
    parse_metric_name,
    parse_metrics,
)

from helpers import TableModel

KS = (1, 5, 10, 20)
TREC = {"recall": "recall", "precision": "P", "ndcg": "ndcg_cut", "map": "map_cut"}


def _random_data(seed=0, n_users=60, n_items=80):
    """Train / valid / test with disjoint items per user and chosen test sizes:
    users 0-4 have no test item, users 5-14 exactly one, the rest 2..30
    (so both fewer and more than K=20)."""
    rng = np.random.default_rng(seed)
    mats = {"train": [], "valid": [], "test": []}
    for u in range(n_users):
        n_test = 0 if u < 5 else 1 if u < 15 else int(rng.integers(2, 31))
        n_train, n_valid = int(rng.integers(1, 16)), int(rng.integers(0, 6))
        items = rng.permutation(n_items)
        parts = np.split(items, [n_train, n_train + n_valid, n_train + n_valid + n_test])
        for name, its in zip(("train", "valid", "test"), parts):
            mats[name] += [(u, i) for i in its]

    def csr(pairs):
        r, c = np.array(pairs).T
        return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_users, n_items))

    data = Interactions(csr(mats["train"]), csr(mats["valid"]), csr(mats["test"]),
                        np.arange(n_users), np.arange(n_items))
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(n_users, n_items, generator=g)
    for row in scores:  # continuous scores: no ties, so every ranking is unambiguous
        assert len(torch.unique(row)) == n_items
    return data, scores


def _reference(data, scores, split):
    """Per-user reference values: pytrec_eval where it has the measure, loops otherwise."""
    target = data.split(split)
    known = data.train + (data.valid if split == "test" and data.valid is not None else 0)
    qrels, run, ranked = {}, {}, {}
    for u in range(data.n_users):
        rel = set(target[u].indices.tolist())
        if not rel:
            continue
        masked = set(known[u].indices.tolist())
        cand = [i for i in range(data.n_items) if i not in masked]
        qrels[str(u)] = {str(i): 1 for i in rel}
        run[str(u)] = {str(i): float(scores[u, i]) for i in cand}
        ranked[u] = (sorted(cand, key=lambda i: -float(scores[u, i])), rel)

    measures = {f"{m}.{','.join(map(str, KS))}" for m in TREC.values()}
    trec = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)

    ref = {}
    for u, (order, rel) in ranked.items():
        vals = {}
        for k in KS:
            for ours, theirs in TREC.items():
                vals[f"{ours}@{k}"] = trec[str(u)][f"{theirs}_{k}"]
            first = next((r for r, i in enumerate(order[:k], start=1) if i in rel), None)
            vals[f"hit@{k}"] = 0.0 if first is None else 1.0
            vals[f"mrr@{k}"] = 0.0 if first is None else 1.0 / first
        ref[u] = vals
    return ref


@pytest.mark.parametrize("split", ["valid", "test"])
def test_metrics_match_pytrec_eval_and_loops(split):
    data, scores = _random_data(seed=1 if split == "valid" else 2)
    ev = Evaluator(data, ks=KS, metrics=tuple(METRICS), batch_size=16)
    res = ev.evaluate(TableModel(scores), split)
    ref = _reference(data, scores, split)

    assert res.users.tolist() == sorted(ref)
    for name, values in res.per_user.items():
        expected = np.array([ref[u][name] for u in res.users])
        np.testing.assert_allclose(values, expected, atol=1e-5, err_msg=name)
        assert res.metrics[name] == pytest.approx(expected.mean(), abs=1e-5)


def test_data_covers_the_edge_cases():
    data, _ = _random_data(seed=2)
    n_rel = np.diff(data.test.indptr)
    assert (n_rel == 0).sum() == 5
    assert (n_rel == 1).sum() >= 10
    assert ((n_rel > 1) & (n_rel < 20)).any() and (n_rel > 20).any()


def test_users_without_relevant_items_are_excluded_not_zero():
    data, scores = _random_data(seed=2)
    res = Evaluator(data, ks=KS).evaluate(TableModel(scores), "test")
    ref = _reference(data, scores, "test")
    assert res.n_users_skipped == 5
    assert res.n_users == data.n_users - 5
    assert not set(range(5)) & set(res.users.tolist())
    expected = np.mean([ref[u]["recall@20"] for u in ref])
    assert res.metrics["recall@20"] == pytest.approx(expected, abs=1e-5)
    # counting the empty users as zeros would give a visibly smaller mean
    assert res.metrics["recall@20"] > expected * len(ref) / data.n_users + 1e-3

    # an explicit user list with empty users: those are skipped and counted too
    sub = Evaluator(data, ks=KS).evaluate(TableModel(scores), "test", users=[0, 1, 7, 30])
    assert sub.users.tolist() == [7, 30] and sub.n_users_skipped == 2


def test_hand_computed_values():
    hits = torch.tensor([[True, False, True, False],
                         [False, False, False, True]])
    n_rel = torch.tensor([3, 1])
    specs = [(m, k) for m in METRICS for k in (3, 4)]
    got = {k: v.tolist() for k, v in compute_metrics(hits, n_rel, specs).items()}
    d = [1 / math.log2(r + 1) for r in range(1, 5)]
    expected = {
        "recall@4": [2 / 3, 1.0], "recall@3": [2 / 3, 0.0],
        "precision@4": [0.5, 0.25], "precision@3": [2 / 3, 0.0],
        "ndcg@4": [(d[0] + d[2]) / sum(d[:3]), d[3] / d[0]], "ndcg@3": [(d[0] + d[2]) / sum(d[:3]), 0.0],
        "hit@4": [1.0, 1.0], "hit@3": [1.0, 0.0],
        "mrr@4": [1.0, 0.25], "mrr@3": [1.0, 0.0],
        "map@4": [(1 + 2 / 3) / 3, 0.25], "map@3": [(1 + 2 / 3) / 3, 0.0],
    }
    assert set(got) == set(expected)
    for name, vals in expected.items():
        assert got[name] == pytest.approx(vals, abs=1e-6), name


def test_parse_helpers():
    assert parse_metrics(["ndcg", "recall"], [20, 5, 20]) == [
        ("ndcg", 5), ("ndcg", 20), ("recall", 5), ("recall", 20)]
    assert parse_metric_name("recall@20") == ("recall", 20)
    with pytest.raises(ConfigError, match="valid metrics are: hit, map, mrr, ndcg, precision, recall"):
        parse_metrics(["recal"], [10])
    with pytest.raises(ConfigError, match="valid metrics are"):
        parse_metric_name("auc@10")
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ConfigError, match="positive integer"):
            parse_metrics(["recall"], [10, bad])
    for bad in ("recall", "recall@", "recall@x", "recall@0"):
        with pytest.raises(ConfigError):
            parse_metric_name(bad)
    with pytest.raises(ConfigError):
        parse_metrics([], [10])

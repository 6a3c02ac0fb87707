"""Sampled metrics: the draw is uniform over the allowed items, ranks match a loop, and end to end
they equal an independent computation when the sample is forced to be every candidate."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys_neg.config import config_from_dict
from recsys_neg.data.interactions import Interactions
from recsys_neg.errors import ConfigError
from recsys_neg.evaluation import Evaluator
from recsys_neg.evaluation.sampled import sample_candidates, sampled_ranks

from helpers import TableModel


def test_candidates_are_uniform_distinct_and_never_excluded():
    rows, n_items, num = 4000, 10, 3
    excluded = {0: [1, 2], 1: [], 2: list(range(7)), 3: [9]}
    r = torch.tensor([u for u in range(rows) for _ in excluded[u % 4]])
    c = torch.tensor([i for u in range(rows) for i in excluded[u % 4]])
    got = sample_candidates(r, c, rows, n_items, num, torch.Generator().manual_seed(0)).numpy()
    assert all(len(set(row)) == num for row in got)
    for kind, banned in excluded.items():
        block = got[kind::4]
        assert not np.isin(block, banned).any()
        allowed = [i for i in range(n_items) if i not in banned]
        freq = np.bincount(block.ravel(), minlength=n_items)[allowed] / len(block)
        # each allowed item is in a row with probability num / |allowed|; 1000 rows: sd <= 0.016
        np.testing.assert_allclose(freq, num / len(allowed), atol=0.06)


def test_too_few_candidates_is_a_clear_error():
    with pytest.raises(ConfigError, match="only 2 items.*eval.sampled.negatives"):
        sample_candidates(torch.tensor([0, 0, 0]), torch.tensor([0, 1, 2]), 1, 5, 3, torch.Generator())


def test_ranks_match_a_loop_with_ties_against_the_relevant_item():
    g = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 5, (6, 12), generator=g).float()  # small integers: many ties
    candidates = torch.stack([torch.randperm(12, generator=g)[:4] for _ in range(6)])
    rel_rows, rel_cols = torch.tensor([0, 0, 2, 5, 5, 5]), torch.tensor([3, 7, 0, 1, 2, 11])
    got = sampled_ranks(scores, candidates, rel_rows, rel_cols)
    for p, (u, i) in enumerate(zip(rel_rows.tolist(), rel_cols.tolist())):
        assert got[p] == 1 + sum(scores[u, j] >= scores[u, i] for j in candidates[u].tolist())


def _forced_data(n_users=30, n_items=14, seed=0):
    """Every user: 3 train, 1 valid, 2 test items, so exactly 14 - 6 = 8 items are left to sample."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "valid": [], "test": []}
    for u in range(n_users):
        items = rng.permutation(n_items)
        for name, its in zip(parts, (items[:3], items[3:4], items[4:6])):
            parts[name] += [(u, int(i)) for i in its]

    def csr(pairs):
        r, c = np.array(pairs).T
        return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_users, n_items))

    return Interactions(csr(parts["train"]), csr(parts["valid"]), csr(parts["test"]),
                        np.arange(n_users), np.arange(n_items))


def test_end_to_end_equals_an_independent_computation_when_every_candidate_is_sampled():
    data = _forced_data()
    table = torch.randint(0, 6, (30, 14), generator=torch.Generator().manual_seed(1)).float()
    ev = Evaluator(data, ks=(2, 5), metrics=("recall", "ndcg"), sampled={"negatives": 8, "seed": 3})
    res = ev.evaluate(TableModel(table), "test")
    test, seen = data.test.toarray() > 0, (data.train + data.valid + data.test).toarray() > 0
    s = table.numpy()
    for k in (2, 5):
        recall, ndcg = [], []
        for u in range(30):
            others = np.flatnonzero(~seen[u])  # the 8 items the user never interacted with
            ranks = [1 + int((s[u, others] >= s[u, i]).sum()) for i in np.flatnonzero(test[u])]
            recall.append(np.mean([r <= k for r in ranks]))
            ndcg.append(np.mean([(r <= k) / math.log2(r + 1) for r in ranks]))
        np.testing.assert_allclose(res.per_user[f"sampled8_recall@{k}"], recall)
        np.testing.assert_allclose(res.per_user[f"sampled8_ndcg@{k}"], ndcg)
        assert res.sampled[f"sampled8_recall@{k}"] == pytest.approx(np.mean(recall))
    # full-ranking keys stay full-ranking only, and the sampled ones say so
    assert set(res.metrics) == {"recall@2", "recall@5", "ndcg@2", "ndcg@5"}
    assert all(k.startswith("sampled8_") for k in res.sampled)
    assert "sampled8_recall@5" in res.per_user_frame().columns
    assert not ev.evaluate(TableModel(table), "test", extras=False).sampled


def test_a_fixed_seed_repeats_and_another_seed_differs():
    data = _forced_data(n_items=40)
    table = torch.rand(30, 40, generator=torch.Generator().manual_seed(2))
    run = lambda seed: Evaluator(data, ks=(5,), metrics=("recall",),  # noqa: E731
                                 sampled={"negatives": 10, "seed": seed}).evaluate(TableModel(table), "test")
    a, b, c = run(0), run(0), run(1)
    assert np.array_equal(a.per_user["sampled10_recall@5"], b.per_user["sampled10_recall@5"])
    assert not np.array_equal(a.per_user["sampled10_recall@5"], c.per_user["sampled10_recall@5"])


def test_negatives_below_the_largest_k_and_config_errors():
    with pytest.raises(ConfigError, match="at least the largest K"):
        Evaluator(_forced_data(), ks=(5, 10), sampled={"negatives": 8})
    cfg = config_from_dict({"eval": {"sampled": {"negatives": 100}}})
    assert cfg.eval.sampled.negatives == 100 and cfg.eval.sampled.seed == 0
    with pytest.raises(ConfigError, match=r"eval\.sampled\.negative"):
        config_from_dict({"eval": {"sampled": {"negative": 100}}})

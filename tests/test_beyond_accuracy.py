"""Beyond-accuracy metrics against values worked out by hand, and the evaluator's wiring of them."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys_neg.config import config_from_dict
from recsys_neg.errors import ConfigError
from recsys_neg.evaluation import Evaluator
from recsys_neg.evaluation.beyond import beyond_accuracy, gini, head_items, popularity_buckets
from recsys_neg.evaluation.options import BeyondAccuracyOptions

from helpers import TableModel, random_interactions

# 6 items with training popularity 10, 6, 3, 1, 0, 0 (20 interactions), 16 users.
POP = np.array([10, 6, 3, 1, 0, 0], dtype=float)
TOP = np.array([[0, 1, 2],
                [0, 3, -1],  # a short list: one empty slot
                [1, 0, 4]])
RELEVANT = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 1],
                                   [0, 0, 0, 1, 0, 0],
                                   [0, 1, 0, 0, 1, 0]], dtype=np.float32))


def test_head_and_buckets_follow_the_interaction_shares():
    # items ahead of each (in popularity order): 0, 10, 16, 19, 20, 20 interactions of 20
    assert head_items(POP, 0.2).tolist() == [True, False, False, False, False, False]  # 0 < 4
    assert head_items(POP, 0.6).tolist() == [True, True, False, False, False, False]  # 0, 10 < 12
    assert popularity_buckets(POP, 3).tolist() == [0, 1, 2, 2, 2, 2]  # floor(3 * ahead / 20)
    assert popularity_buckets(np.array([5, 5, 5, 5.0]), 2).tolist() == [0, 0, 1, 1]


def test_values_at_k2_by_hand():
    got = beyond_accuracy(TOP, POP, [2, 3], n_users=16, relevant=RELEVANT,
                          options=BeyondAccuracyOptions(head_share=0.2, buckets=3))
    # top-2 slots: 0 1 | 0 3 | 1 0  -> exposure item0: 3, item1: 2, item3: 1
    assert got["coverage@2"] == pytest.approx(3 / 6)
    # exposure sorted ascending 0 0 0 1 2 3, n = 6, total 6: (1*1 + 3*2 + 5*3) / (6 * 6)
    assert got["gini@2"] == pytest.approx(22 / 36)
    assert got["avg_pop@2"] == pytest.approx((10 + 6 + 10 + 1 + 6 + 10) / 6)
    assert got["long_tail@2"] == pytest.approx(3 / 6)  # items 1, 3, 1 are outside the head {0}
    assert got["novelty@2"] == pytest.approx((3 * math.log2(16 / 10) + 2 * math.log2(16 / 6) + math.log2(16)) / 6)
    # relevant pairs per bucket: bucket 2 holds (u2, 1), bucket 3 holds (u0, 2) (u0, 5) (u1, 3) (u2, 4)
    assert math.isnan(got["recall_pop1@2"])
    assert got["recall_pop2@2"] == 1.0  # item 1 is in u2's top 2
    assert got["recall_pop3@2"] == pytest.approx(1 / 4)  # only (u1, 3)


def test_values_at_k3_by_hand():
    got = beyond_accuracy(TOP, POP, [3], n_users=16, relevant=RELEVANT)
    # 8 filled slots: exposure 3 2 1 1 1 0 for items 0..5
    assert got["coverage@3"] == pytest.approx(5 / 6)
    assert got["gini@3"] == pytest.approx((-3 * 1 - 1 * 1 + 1 * 1 + 3 * 2 + 5 * 3) / (6 * 8))
    assert got["avg_pop@3"] == pytest.approx((10 + 6 + 3 + 10 + 1 + 6 + 10 + 0) / 8)
    assert got["long_tail@3"] == pytest.approx(5 / 8)
    # an item unseen in training counts as seen once: -log2(1 / 16) = 4
    assert got["novelty@3"] == pytest.approx(
        (3 * math.log2(16 / 10) + 2 * math.log2(16 / 6) + math.log2(16 / 3) + math.log2(16) + 4) / 8)
    assert got["recall_pop3@3"] == pytest.approx(3 / 4)  # (u0, 2), (u1, 3), (u2, 4) found; (u0, 5) not


def test_gini_extremes():
    assert gini(np.full(7, 3.0)) == 0.0
    assert gini(np.array([0, 0, 0, 9.0])) == pytest.approx(3 / 4)  # (n - 1) / n


def _table_data():
    data = random_interactions(40, 30, density=0.25, seed=1)
    table = torch.rand(40, 30, generator=torch.Generator().manual_seed(0))
    return data, table


def test_evaluator_top_items_agree_with_its_hits_and_feed_the_metrics():
    data, table = _table_data()
    ev = Evaluator(data, ks=(5, 10), metrics=("recall",), beyond_accuracy={"buckets": 2})
    res = ev.evaluate(TableModel(table), "test")
    top = res.top_items
    assert top.shape == (res.n_users, 10)
    test, known = data.test.toarray() > 0, (data.train + data.valid).toarray() > 0
    for row, u in enumerate(res.users):
        listed = top[row][top[row] >= 0]
        assert not known[u, listed].any()  # masked items are never listed
        expected = np.argsort(-np.where(known[u], -np.inf, table[u].numpy()), kind="stable")[:10]
        assert set(listed) == set(expected[: len(listed)])
        assert res.per_user["recall@10"][row] == pytest.approx(test[u, listed].sum() / test[u].sum())
    direct = beyond_accuracy(top, data.item_popularity, [5, 10], data.n_users, data.test[res.users],
                             BeyondAccuracyOptions(buckets=2))
    assert res.beyond == direct and "recall_pop2@10" in res.beyond
    assert res.beyond_info["buckets"][0]["items"] + res.beyond_info["buckets"][1]["items"] == 30
    assert not ev.evaluate(TableModel(table), "test", extras=False).beyond
    assert "beyond_accuracy" in res.to_dict() and "coverage@10" not in res.metrics


def test_config_accepts_true_or_a_section_and_rejects_typos():
    assert config_from_dict({}).eval.beyond_accuracy is None
    assert config_from_dict({"eval": {"beyond_accuracy": True}}).eval.beyond_accuracy.head_share == 0.2
    assert config_from_dict({"eval": {"beyond_accuracy": False}}).eval.beyond_accuracy is None
    assert config_from_dict({"eval": {"beyond_accuracy": {"buckets": 5}}}).eval.beyond_accuracy.buckets == 5
    with pytest.raises(ConfigError, match=r"eval\.beyond_accuracy\.head_shar"):
        config_from_dict({"eval": {"beyond_accuracy": {"head_shar": 0.3}}})
    with pytest.raises(ConfigError, match=r"eval\.beyond_accuracy\.head_share"):
        config_from_dict({"eval": {"beyond_accuracy": {"head_share": 1.5}}})


def test_an_all_empty_list_set_gives_nan_not_an_error():
    got = beyond_accuracy(np.full((2, 3), -1), POP, [3], n_users=16)
    assert got["coverage@3"] == 0.0 and math.isnan(got["gini@3"]) and math.isnan(got["avg_pop@3"])


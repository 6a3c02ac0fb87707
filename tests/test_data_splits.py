"""Split methods and the Gowalla reference counts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_neg.data import DataConfig, build_interactions, load_gowalla
from recsys_neg.data.config import SplitConfig
from recsys_neg.data.splits import TEST, TRAIN, VALID, split_indices, split_labels


def _frame(n_users=300, seed=0, timestamps=True) -> pd.DataFrame:
    """Users with 1..60 distinct items each; internal ids."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 61, n_users)
    user = np.repeat(np.arange(n_users), sizes)
    item = np.concatenate([rng.choice(100, s, replace=False) for s in sizes])
    df = pd.DataFrame({"user": user, "item": item})
    if timestamps:
        df["timestamp"] = rng.integers(0, 10_000, len(df))
    return df


def test_random_split_ratios_and_coverage():
    df = _frame()
    train, valid, test = split_indices(df, SplitConfig(valid_ratio=0.1, test_ratio=0.2, seed=3))
    assert len(np.intersect1d(train, valid)) == len(np.intersect1d(train, test)) == 0
    assert len(np.intersect1d(valid, test)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, valid, test])), np.arange(len(df)))
    counts = df.groupby("user").size()
    big = counts.index[counts >= 3]
    for idx in (train, valid, test):
        assert set(big) <= set(df["user"].iloc[idx])  # every eligible user is in every split
    small = counts.index[counts < 3]
    assert not set(small) & set(df["user"].iloc[np.concatenate([valid, test])])
    many = df["user"].map(counts) >= 30  # rounding matters little for big users
    labels = split_labels(df, SplitConfig(valid_ratio=0.1, test_ratio=0.2, seed=3))[many.to_numpy()]
    assert abs((labels == TEST).mean() - 0.2) < 0.02
    assert abs((labels == VALID).mean() - 0.1) < 0.02


def test_random_split_is_deterministic_by_seed():
    df = _frame()
    a = split_labels(df, SplitConfig(seed=1))
    assert np.array_equal(a, split_labels(df, SplitConfig(seed=1)))
    assert not np.array_equal(a, split_labels(df, SplitConfig(seed=2)))


def test_leave_one_out_takes_latest():
    df = _frame()
    labels = split_labels(df, SplitConfig(method="loo"))
    counts = df.groupby("user").size()
    eligible = counts.index[counts >= 3]
    per_user_test = df[labels == TEST].groupby("user").size()
    per_user_valid = df[labels == VALID].groupby("user").size()
    assert list(per_user_test.index) == list(eligible) and (per_user_test == 1).all()
    assert list(per_user_valid.index) == list(eligible) and (per_user_valid == 1).all()
    latest = df.groupby("user")["timestamp"].max()
    test = df[labels == TEST].set_index("user")["timestamp"]
    assert (test == latest[test.index]).all()
    valid = df[labels == VALID].set_index("user")["timestamp"]
    train_latest = df[labels == TRAIN].groupby("user")["timestamp"].max()
    assert (valid[eligible] >= train_latest[eligible]).all()


def test_leave_one_out_without_timestamps_is_random_but_one_each():
    df = _frame(timestamps=False)
    a = split_labels(df, SplitConfig(method="loo", valid_ratio=0, seed=0))
    b = split_labels(df, SplitConfig(method="loo", valid_ratio=0, seed=1))
    counts = df.groupby("user").size()
    assert (df[a == TEST].groupby("user").size() == 1).all()
    assert df[a == TEST]["user"].nunique() == (counts >= 2).sum()
    assert not (a == VALID).any()
    assert not np.array_equal(a, b)


def test_temporal_split_test_is_newest():
    df = _frame()
    labels = split_labels(df, SplitConfig(method="temporal", valid_ratio=0.1, test_ratio=0.2))
    by = {s: df[labels == s].groupby("user")["timestamp"] for s in (TRAIN, VALID, TEST)}
    users = by[TEST].min().index
    assert len(users) > 200
    assert (by[TEST].min()[users] >= by[VALID].max()[users]).all()
    assert (by[VALID].min()[users] >= by[TRAIN].max()[users]).all()


def test_given_files_union_of_ids(write_lines):
    train = write_lines("train.txt", ["0 1 2 3", "1 2 4", "2 1"])
    valid = write_lines("valid.txt", ["0 5", "1 1"])
    test = write_lines("test.txt", ["0 4", "3 6"])  # user 3 and item 6 only appear in test
    cfg = DataConfig(source={"source": "text", "train": str(train), "valid": str(valid), "test": str(test)})
    assert cfg.split.method == "given"
    inter = build_interactions(cfg)
    assert inter.n_users == 4 and inter.n_items == 6
    assert inter.item_ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert (inter.train.nnz, inter.valid.nnz, inter.test.nnz) == (6, 2, 2)
    assert inter.test[3, 5] == 1 and inter.train[3].nnz == 0
    merged = build_interactions(cfg.model_copy(update={"merge_valid": True}))
    assert merged.valid is None and merged.train.nnz == 8


def test_build_random_split_partitions_interactions():
    inter = build_interactions()
    total = inter.train + inter.valid + inter.test
    assert total.nnz == inter.train.nnz + inter.valid.nnz + inter.test.nnz  # disjoint
    assert inter.train.multiply(inter.test).nnz == 0
    merged = build_interactions(DataConfig(merge_valid=True))
    assert merged.valid is None and merged.train.nnz == inter.train.nnz + inter.valid.nnz
    assert merged.test.nnz == inter.test.nnz


@pytest.mark.slow
def test_gowalla_counts(gowalla_dir):
    inter = load_gowalla(gowalla_dir)
    assert (inter.n_users, inter.n_items) == (29_858, 40_981)
    assert (inter.train.nnz, inter.valid.nnz, inter.test.nnz) == (719_081, 91_047, 217_242)
    assert np.array_equal(inter.user_ids, np.arange(29_858))  # raw ids kept as internal ids
    merged = load_gowalla(gowalla_dir, merge_valid=True)
    assert merged.train.nnz == 810_128 and merged.valid is None
    assert merged.test.nnz == 217_242

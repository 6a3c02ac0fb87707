"""Noise injection: exact counts per user, never an observed item, splits untouched, deterministic."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import random_interactions
from recsys_neg.config import config_from_dict
from recsys_neg.data import DataConfig, build_interactions
from recsys_neg.data.noise import NoiseConfig, inject_noise, injected_mask, noise_record
from recsys_neg.errors import ConfigError


def _pairs(m):
    m = m.tocoo()
    return set(zip(m.row.tolist(), m.col.tolist()))


@pytest.mark.parametrize("ratio", [0.1, 0.35, 1.0])
def test_add_injects_floor_ratio_unobserved_items_per_user(ratio):
    data = random_interactions(n_users=120, n_items=150, density=0.15, seed=3)
    noisy = inject_noise(data, NoiseConfig(ratio=ratio, mode="add", seed=1))
    rec = noise_record(noisy)
    degree = np.diff(data.train.indptr)
    expected = np.floor(ratio * degree + 1e-9).astype(int)
    assert np.array_equal(np.bincount(rec.users, minlength=data.n_users), expected)
    assert np.array_equal(np.diff(noisy.train.indptr), degree + expected)
    observed = _pairs(data.train) | _pairs(data.valid) | _pairs(data.test)
    injected = set(zip(rec.users.tolist(), rec.items.tolist()))
    assert len(injected) == rec.n_injected  # no pair injected twice
    assert not injected & observed
    assert _pairs(noisy.train) == _pairs(data.train) | injected
    assert _pairs(noisy.valid) == _pairs(data.valid) and _pairs(noisy.test) == _pairs(data.test)


def test_injected_items_are_uniform_over_the_unobserved():
    # 3000 users who all have items 0-9 of 30; ratio 1 -> 10 distinct items of the 20 others each
    import scipy.sparse as sp
    from scipy.stats import chisquare

    from recsys_neg.data.interactions import Interactions

    n = 3000
    rows, cols = np.repeat(np.arange(n), 10), np.tile(np.arange(10), n)
    train = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, 30))
    rec = noise_record(inject_noise(Interactions(train, None, None, np.arange(n), np.arange(30)),
                                    NoiseConfig(ratio=1.0, seed=0)))
    assert np.array_equal(np.bincount(rec.users, minlength=n), np.full(n, 10))
    counts = np.bincount(rec.items, minlength=30)
    assert counts[:10].sum() == 0
    assert chisquare(counts[10:]).pvalue > 1e-3


def test_replace_and_remove_flip_observed_positives():
    data = random_interactions(n_users=80, n_items=100, density=0.2, seed=4)
    degree = np.diff(data.train.indptr)
    need = np.floor(0.3 * degree + 1e-9).astype(int)
    rep = noise_record(inject_noise(data, NoiseConfig(ratio=0.3, mode="replace", seed=2)))
    replaced = inject_noise(data, NoiseConfig(ratio=0.3, mode="replace", seed=2))
    assert np.array_equal(np.diff(replaced.train.indptr), degree)  # same size per user
    assert np.array_equal(np.bincount(rep.removed_users, minlength=80), need)
    removed = set(zip(rep.removed_users.tolist(), rep.removed_items.tolist()))
    assert removed <= _pairs(data.train) and not removed & _pairs(replaced.train)
    rem = inject_noise(data, NoiseConfig(ratio=0.3, mode="remove", seed=2))
    assert np.array_equal(np.diff(rem.train.indptr), degree - need)
    assert noise_record(rem).n_injected == 0


def test_deterministic_by_seed_and_mask_marks_injected_pairs():
    data = random_interactions(seed=5)
    a = inject_noise(data, NoiseConfig(ratio=0.5, seed=7))
    b = inject_noise(data, NoiseConfig(ratio=0.5, seed=7))
    c = inject_noise(data, NoiseConfig(ratio=0.5, seed=8))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    mask = injected_mask(a)
    users, items = (t.numpy() for t in a.train_pairs)
    rec = noise_record(a)
    assert set(zip(users[mask].tolist(), items[mask].tolist())) == set(zip(rec.users.tolist(), rec.items.tolist()))
    assert injected_mask(data) is None


def test_data_config_noise_field_builds_noisy_train_and_rejects_bad_values():
    cfg = DataConfig.model_validate({"source": {"source": "synthetic", "n_users": 100, "n_items": 80},
                                     "noise": {"ratio": 0.2, "mode": "add", "seed": 0}})
    data = build_interactions(cfg)
    clean = build_interactions(cfg.model_copy(update={"noise": None}))
    assert noise_record(data).n_injected == int(np.floor(0.2 * np.diff(clean.train.indptr) + 1e-9).sum())
    with pytest.raises(ConfigError, match="data.noise.ratio"):
        config_from_dict({"data": {"noise": {"ratio": -1}}})
    with pytest.raises(ConfigError, match="data.noise.mode"):
        config_from_dict({"data": {"noise": {"mode": "swap"}}})

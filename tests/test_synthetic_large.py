"""The synthetic generator's path for large catalogues (candidates from the popularity prior).

Below ``EXACT_MAX_CELLS`` the exact path runs unchanged (every existing pipeline's data stays the
same); above it, each user keeps the Gumbel top-k of its score among candidates drawn from the
popularity prior. Checked here by forcing the threshold down on small sizes.
"""
from __future__ import annotations

import numpy as np
import pytest

import recsys_neg.data.sources.synthetic as synthetic
from recsys_neg.data.sources.synthetic import SyntheticSource, _GuideTable, generate_synthetic

CFG = SyntheticSource(n_users=400, n_items=3000, mean_interactions=20, seed=5)


@pytest.fixture
def candidates_path(monkeypatch):
    monkeypatch.setattr(synthetic, "EXACT_MAX_CELLS", 0)


def test_guide_table_draws_follow_the_distribution():
    p = np.array([0.4, 0.0, 0.05, 0.3, 0.25] + [0.0] * 3)
    draws = _GuideTable(p).draw(np.random.default_rng(0), 200_000)
    freq = np.bincount(draws, minlength=len(p)) / len(draws)
    # binomial standard error at 200k draws is at most 0.0011
    assert np.abs(freq - p).max() < 0.005 and freq[1] == 0 and freq[5:].sum() == 0
    zipf = 1 / np.arange(1, 100_001)  # a long tail: buckets that hold several items
    d = _GuideTable(zipf).draw(np.random.default_rng(1), 400_000)
    expected = zipf / zipf.sum()
    assert abs(np.mean(d < 10) - expected[:10].sum()) < 0.004
    assert abs(np.mean(d >= 50_000) - expected[50_000:].sum()) < 0.004


def test_small_sizes_never_take_the_candidate_path(monkeypatch):
    def refuse(*args):
        raise AssertionError("candidate path used below the threshold")
    monkeypatch.setattr(synthetic, "_pick_from_candidates", refuse)
    assert len(generate_synthetic(CFG)) > 0


def test_candidate_path_shape_determinism_and_popularity(candidates_path):
    df = generate_synthetic(CFG)
    assert df.equals(generate_synthetic(CFG))
    assert not df.duplicated(["user", "item"]).any()
    per_user = df.groupby("user").size()
    assert df["user"].nunique() == CFG.n_users and per_user.min() >= 3
    assert abs(per_user.mean() - CFG.mean_interactions) < 0.15 * CFG.mean_interactions
    assert (df.groupby("user")["timestamp"].diff().dropna() > 0).all()
    degree = np.sort(np.bincount(df["item"], minlength=CFG.n_items))[::-1]
    assert degree[:300].sum() / degree.sum() > 0.3  # the prior's heavy tail survives


def test_candidate_path_keeps_a_latent_signal(candidates_path):
    """Users pick items their latent vectors score higher than the popularity prior alone would."""
    cfg = CFG.model_copy(update={"popularity_exponent": 0.5})
    df = generate_synthetic(cfg)
    rng = np.random.default_rng(cfg.seed)  # the generator's first draws: the latent factors
    scale = cfg.dim ** -0.25
    user_f = rng.normal(0.0, scale, (cfg.n_users, cfg.dim)).astype(np.float32)
    item_f = rng.normal(0.0, scale, (cfg.n_items, cfg.dim)).astype(np.float32)
    chosen = np.einsum("nd,nd->n", user_f[df["user"]], item_f[df["item"]])
    baseline = generate_synthetic(cfg.model_copy(update={"temperature": 1e6}))  # scores flattened away
    prior_only = np.einsum("nd,nd->n", user_f[baseline["user"]], item_f[baseline["item"]])
    assert chosen.mean() > prior_only.mean() + 0.5

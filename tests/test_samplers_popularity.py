import numpy as np
import pytest
import torch
from scipy import stats

from recsys_neg.errors import ConfigError
from recsys_neg.samplers import build_sampler
from recsys_neg.samplers.popularity import AliasTable

from helpers import make_step


def ctx(data, seed=0):
    return make_step(seed)


@pytest.fixture(scope="module")
def data():
    # skewed popularity over a small catalogue: item j is liked by about (j+1)/n of users
    rng = np.random.default_rng(0)
    import scipy.sparse as sp
    from recsys_neg.data.interactions import Interactions
    m = rng.random((200, 12)) < (np.arange(1, 13) / 14.0)
    m[:, 0] |= rng.random(200) < 0.02  # keep every item reachable
    return Interactions(sp.csr_matrix(m.astype(np.float32)), None, None, np.arange(200), np.arange(12))


def target(data, alpha, user=None):
    w = data.item_popularity ** alpha
    if user is not None:
        w = w * (data.train.toarray()[user] == 0)
    return w / w.sum()


def test_alias_table_encodes_the_distribution_exactly():
    probs = np.random.default_rng(1).dirichlet(np.ones(50) * 0.3)
    t = AliasTable(probs, "cpu")
    keep, alias = t.prob.double().numpy(), t.alias.numpy()
    implied = keep.copy()
    np.add.at(implied, alias, 1.0 - keep)
    assert np.allclose(implied / len(probs), probs, atol=1e-6)


@pytest.mark.parametrize("method", ["alias", "multinomial"])
@pytest.mark.parametrize("alpha", [0.75, 1.0])
def test_draws_follow_frequency_power_alpha(data, alpha, method):
    s = build_sampler({"name": "popularity", "alpha": alpha, "method": method, "exclude_positives": False}, data, "cpu")
    neg = s.sample(torch.zeros(40000, dtype=torch.long), None, 1, ctx(data))
    counts = np.bincount(neg.items.ravel().numpy(), minlength=12)
    expected = target(data, alpha) * counts.sum()
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    assert torch.allclose(neg.log_q.double(), torch.log(torch.from_numpy(target(data, alpha)))[neg.items], atol=1e-5)


def test_alpha_zero_is_uniform(data):
    s = build_sampler({"name": "popularity", "alpha": 0.0, "exclude_positives": False}, data, "cpu")
    counts = np.bincount(s.sample(torch.zeros(24000, dtype=torch.long), None, 1, ctx(data)).items.ravel(),
                         minlength=12)
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("alpha", [0.75, 1.0])
def test_exclusion_gives_the_restricted_distribution_and_its_log_q(data, alpha):
    # user with many positives: rejection rounds=1 leaves work for the exact fallback too
    deg = np.diff(data.train.indptr)
    user = int(np.argmax(deg))
    s = build_sampler({"name": "popularity", "alpha": alpha, "rejection_rounds": 1}, data, "cpu")
    neg = s.sample(torch.full((30000,), user, dtype=torch.long), None, 1, ctx(data))
    draws = neg.items.ravel().numpy()
    p = target(data, alpha, user)
    assert p[draws].min() > 0  # never a training positive
    allowed = p > 0
    counts = np.bincount(draws, minlength=12)[allowed]
    assert stats.chisquare(counts, p[allowed] * counts.sum()).pvalue > 1e-3
    assert np.allclose(neg.log_q.ravel().numpy(), np.log(p[draws]), atol=1e-5)


def test_shared_with_exclusion_is_a_config_error(data):
    with pytest.raises(ConfigError, match="sampler"):
        build_sampler({"name": "popularity", "shared": True}, data, "cpu")
    s = build_sampler({"name": "popularity", "shared": True, "exclude_positives": False}, data, "cpu")
    assert s.sample(torch.arange(7), None, 5, ctx(data)).items.shape == (1, 5)


def test_negative_alpha_names_the_field(data):
    with pytest.raises(ConfigError, match="sampler.alpha"):
        build_sampler({"name": "popularity", "alpha": -1}, data, "cpu")

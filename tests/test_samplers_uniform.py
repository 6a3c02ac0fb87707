import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from recsys_neg.data.interactions import Interactions
from recsys_neg.errors import DataError
from recsys_neg.samplers import build_sampler
from recsys_neg.step import Step
from recsys_neg.samplers.exclusion import ComplementSampler, build_positive_set

from helpers import make_step, random_interactions


def ctx(data, seed=0):
    return make_step(seed)


@pytest.mark.parametrize("kind", ["dense", "bitset", "sorted"])
def test_positive_set_matches_matrix(kind):
    data = random_interactions(60, 37, density=0.3)
    ps = build_positive_set(data.train, kind=kind)
    assert ps.kind == kind
    u, i = np.meshgrid(np.arange(60), np.arange(37), indexing="ij")
    got = ps.contains(torch.from_numpy(u.ravel()), torch.from_numpy(i.ravel())).numpy()
    assert np.array_equal(got, data.train.toarray().ravel() > 0)


def test_auto_structure_follows_budget():
    data = random_interactions(100, 80)
    assert build_positive_set(data.train, budget_bytes=10**9).kind == "dense"
    assert build_positive_set(data.train, budget_bytes=100 * 10 + 1).kind == "bitset"
    assert build_positive_set(data.train, budget_bytes=10).kind == "sorted"


@pytest.mark.parametrize("structure", ["dense", "bitset", "sorted"])
def test_uniform_exclusion_is_exact(structure):
    # dense users (80% of items) force several rejection rounds and the complement fallback
    data = random_interactions(40, 30, density=0.8, seed=1, with_splits=False)
    s = build_sampler({"name": "uniform", "structure": structure, "rejection_rounds": 1}, data, "cpu")
    users = torch.arange(40).repeat(50)
    neg = s.sample(users, None, 20, ctx(data)).items
    assert neg.shape == (2000, 20)
    train = data.train.toarray() > 0
    assert not train[users[:, None].numpy(), neg.numpy()].any()


def test_complement_sampler_is_uniform_over_non_positives():
    data = random_interactions(5, 50, density=0.5, seed=2, with_splits=False)
    cs = ComplementSampler(data.train)
    g = torch.Generator().manual_seed(0)
    for u in range(5):
        draws = cs.sample(torch.full((20000,), u, dtype=torch.long), g).numpy()
        allowed = np.flatnonzero(data.train.toarray()[u] == 0)
        assert set(np.unique(draws)) <= set(allowed)
        counts = np.bincount(draws, minlength=50)[allowed]
        assert stats.chisquare(counts).pvalue > 1e-3


def test_uniform_with_exclusion_matches_target_distribution():
    data = random_interactions(3, 20, density=0.4, seed=3, with_splits=False)
    s = build_sampler({"name": "uniform"}, data, "cpu")
    users = torch.zeros(30000, dtype=torch.long)
    draws = s.sample(users, None, 1, ctx(data)).items.ravel().numpy()
    allowed = np.flatnonzero(data.train.toarray()[0] == 0)
    counts = np.bincount(draws, minlength=20)
    assert counts[np.setdiff1d(np.arange(20), allowed)].sum() == 0
    assert stats.chisquare(counts[allowed]).pvalue > 1e-3


def test_uniform_without_exclusion_covers_positives():
    data = random_interactions(3, 10, density=0.5, seed=4, with_splits=False)
    s = build_sampler({"name": "uniform", "exclude_positives": False}, data, "cpu")
    draws = s.sample(torch.zeros(20000, dtype=torch.long), None, 1, ctx(data)).items.ravel().numpy()
    counts = np.bincount(draws, minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_seed_makes_draws_reproducible():
    data = random_interactions(30, 25)
    s = build_sampler({"name": "uniform"}, data, "cpu")
    users = torch.arange(30)
    a = s.sample(users, None, 5, ctx(data, 7)).items
    b = s.sample(users, None, 5, ctx(data, 7)).items
    c = s.sample(users, None, 5, ctx(data, 8)).items
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_user_with_every_item_is_a_clear_error():
    m = sp.csr_matrix(np.ones((2, 4), dtype=np.float32))
    data = Interactions(m, None, None, np.arange(2), np.arange(4))
    with pytest.raises(DataError, match="every item"):
        build_sampler({"name": "uniform"}, data, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_uniform_exclusion_on_cuda():
    data = random_interactions(40, 30, density=0.6)
    s = build_sampler({"name": "uniform"}, data, "cuda")
    users = torch.arange(40, device="cuda").repeat(10)
    g = torch.Generator(device="cuda").manual_seed(0)
    neg = s.sample(users, None, 8, Step(generator=g)).items
    assert neg.is_cuda
    assert not (data.train.toarray() > 0)[users[:, None].cpu().numpy(), neg.cpu().numpy()].any()

"""Samplers built from others (mixed) or from the batch itself (in_batch)."""
import numpy as np
import pytest
import torch
from scipy import stats

from recsys_neg.errors import ConfigError
from recsys_neg.models import build_model
from recsys_neg.samplers import build_sampler
from recsys_neg.samplers.base import Negatives

from helpers import make_step, random_interactions, scorer_for


@pytest.fixture(scope="module")
def data():
    return random_interactions(50, 40, density=0.2, seed=13, with_splits=False)


def ctx(data, model=None, seed=0):
    """(step, scorer) as a training step hands them to a sampler."""
    return make_step(seed), None if model is None else scorer_for(model)


def marked_mixed(data, fractions):
    """A mixed sampler whose part j returns item j everywhere, so each negative says where it came from."""
    parts = [{"name": "uniform", "fraction": f} for f in fractions]
    s = build_sampler({"name": "mixed", "parts": parts}, data, "cpu")
    for j, part in enumerate(s.parts):
        part.sample = (lambda j: lambda users, pos, k, step, scorer=None: Negatives(torch.full((users.shape[0], k), j)))(j)
    return s


@pytest.mark.parametrize("num", [1, 7, 10])
def test_mixed_respects_its_fractions(data, num):
    s = marked_mixed(data, [0.3, 0.7])
    users = torch.zeros(4000, dtype=torch.long)
    items = s.sample(users, users, num, *ctx(data)).items
    assert items.shape == (4000, num)
    share = (items == 0).double().mean().item()
    n = items.numel()
    # binomial tolerance on the leftover slots' random assignment (exact for the fixed ones)
    assert abs(share - 0.3) < 4 * np.sqrt(0.21 / n) + 1e-12
    if num == 10:
        assert (items[:, :3] == 0).all() and (items[:, 3:] == 1).all()  # floor(0.3*10) fixed slots


def test_mixed_leftover_slot_follows_fractions_by_chi_square(data):
    s = marked_mixed(data, [0.2, 0.5, 0.3])
    items = s.sample(torch.zeros(30000, dtype=torch.long), None, 1, *ctx(data)).items.ravel().numpy()
    counts = np.bincount(items, minlength=3)
    assert stats.chisquare(counts, np.array([0.2, 0.5, 0.3]) * counts.sum()).pvalue > 1e-3


def test_mixed_of_dns_and_uniform_trains_harder_negatives(data):
    torch.manual_seed(0)
    mf = build_model({"name": "mf", "embedding_dim": 8, "sparse": False, "init_std": 1.0}, data).eval()
    users, pos = data.train_pairs
    s = build_sampler({"name": "mixed", "parts": [{"name": "dns", "candidates": 16, "fraction": 0.5},
                                          {"name": "uniform", "fraction": 0.5}]}, data, "cpu")
    neg = s.sample(users, pos, 4, *ctx(data, mf)).items
    with torch.no_grad():
        sc = scorer_for(mf)(users, neg)
    assert sc[:, :2].mean() > sc[:, 2:].mean() + 0.5  # dns half is harder than the uniform half


def test_mixed_keeps_part_weights(data):
    torch.manual_seed(0)
    mf = build_model({"name": "mf", "embedding_dim": 4, "sparse": False}, data).eval()
    s = build_sampler({"name": "mixed", "parts": [{"name": "fn_aware", "fraction": 0.5},
                                          {"name": "uniform", "fraction": 0.5}]}, data, "cpu")
    users, pos = data.train_pairs
    neg = s.sample(users, pos, 4, *ctx(data, mf))
    assert neg.weight.shape == (len(users), 4)
    assert torch.equal(neg.weight[:, 2:], torch.ones(len(users), 2))
    assert (neg.weight[:, :2] < 1).all()


@pytest.mark.parametrize("parts, message", [
    ([{"name": "uniform", "fraction": 0.6}, {"name": "uniform", "fraction": 0.6}], "sum to 1"),
    ([{"name": "dns", "candidates": 0, "fraction": 0.5}, {"name": "uniform", "fraction": 0.5}],
     r"parts\.0\.candidates"),
    ([{"name": "nope", "fraction": 0.5}, {"name": "uniform", "fraction": 0.5}], r"parts\.0\.name"),
    ([{"name": "uniform"}, {"name": "uniform", "fraction": 1.0}], "fraction"),
    ([{"name": "uniform", "fraction": 1.0}], "at least 2"),
])
def test_mixed_validation_names_the_field(data, parts, message):
    with pytest.raises(ConfigError, match=message):
        build_sampler({"name": "mixed", "parts": parts}, data, "cpu")


def test_mixed_is_set_from_a_pipeline_override():
    from recsys_neg.config import config_from_dict
    cfg = config_from_dict({"sampler": {"name": "uniform"}}, "test", overrides=[
        "sampler={name: mixed, parts: [{name: popularity, alpha: 0.5, fraction: 0.25}, "
        "{name: uniform, fraction: 0.75}]}"])
    assert cfg.sampler.name == "mixed"
    assert cfg.sampler.parts[0].sampler.alpha == 0.5  # typed once, at load
    with pytest.raises(ConfigError, match="sampler.alpha"):
        config_from_dict({"sampler": {"name": "popularity"}}, "test", overrides=["sampler.alpha=-1"])


# ---- in-batch ---------------------------------------------------------------

def batch(data, n=300, seed=0):
    users, items = data.train_pairs
    idx = torch.randint(len(users), (n,), generator=torch.Generator().manual_seed(seed))
    return users[idx], items[idx]


@pytest.mark.parametrize("exclude", [False, True])
def test_in_batch_per_row_never_returns_the_rows_positive(data, exclude):
    s = build_sampler({"name": "in_batch", "shared": False, "exclude_positives": exclude}, data, "cpu")
    users, pos = batch(data)
    neg = s.sample(users, pos, 8, *ctx(data)).items
    assert not (neg == pos.unsqueeze(1)).any()
    if exclude:
        assert not (data.train.toarray() > 0)[users[:, None].numpy(), neg.numpy()].any()
    # every negative is some batch positive (unless a row fell back to uniform)
    assert np.isin(neg.numpy(), pos.numpy()).mean() > 0.99


def test_in_batch_shared_masks_the_rows_positive_by_weight(data):
    s = build_sampler({"name": "in_batch", "shared": True, "exclude_positives": True, "log_q": "batch"}, data, "cpu")
    users, pos = batch(data, 64)
    neg = s.sample(users, pos, 1, *ctx(data))
    assert torch.equal(neg.items, pos.unsqueeze(0))
    train = data.train.toarray() > 0
    expected = ~(train[users[:, None].numpy(), pos[None, :].numpy()] | (pos[None, :] == pos[:, None]).numpy())
    assert np.array_equal(neg.weight.numpy() > 0, expected)
    counts = np.bincount(pos.numpy(), minlength=data.n_items)
    assert np.allclose(neg.log_q.numpy(), np.log(counts[pos.numpy()] / 64)[None, :], atol=1e-6)


def test_in_batch_popularity_log_q(data):
    s = build_sampler({"name": "in_batch", "shared": False}, data, "cpu")
    users, pos = batch(data)
    neg = s.sample(users, pos, 3, *ctx(data))
    pop = data.item_popularity
    assert np.allclose(neg.log_q.numpy(), np.log(pop[neg.items.numpy()] / pop.sum()), atol=1e-5)


def test_in_batch_falls_back_when_the_batch_offers_nothing(data):
    s = build_sampler({"name": "in_batch", "shared": False, "rejection_rounds": 2}, data, "cpu")
    users = torch.arange(10)
    pos = torch.full((10,), int(data.train[0].indices[0]))  # every row has the same positive
    neg = s.sample(users, pos, 5, *ctx(data)).items
    assert not (neg == pos.unsqueeze(1)).any()

"""Properties every sampler shares: exact exclusion where claimed, shapes, reproducible seeds, CUDA."""
import pytest
import torch

from recsys_neg.models import build_model
from recsys_neg.samplers import build_sampler
from recsys_neg.samplers.base import StepContext

from helpers import random_interactions

# Samplers with parameters under which they promise never to return a training positive.
EXCLUDING = {
    "uniform": {},
    "popularity": {"alpha": 0.75, "rejection_rounds": 1},
    "dns": {"candidates": 8},
    "simans": {"candidates": 16},
    "in_batch": {"shared": False, "exclude_positives": True},
    "mixed": {"parts": [{"name": "dns", "candidates": 4, "fraction": 0.5},
                        {"name": "popularity", "alpha": 1.0, "fraction": 0.5}]},
    "als_static": {"top_k": 5, "factors": 4, "iterations": 2, "uniform_fraction": 0.3},
    "fn_aware": {"base": {"name": "popularity", "alpha": 1.0}},
}


def make_context(data, model, seed=0, device="cpu"):
    g = torch.Generator(device=device).manual_seed(seed)
    return StepContext(model, model.encode(), data, generator=g)


@pytest.fixture(scope="module")
def dense_data():
    # ~60% of items are positives: rejection needs several rounds and the exact fallbacks
    return random_interactions(40, 30, density=0.6, seed=5, with_splits=False)


@pytest.fixture(scope="module")
def mf(dense_data):
    torch.manual_seed(0)
    return build_model("mf", {"embedding_dim": 8, "sparse": False}, dense_data)


@pytest.mark.parametrize("name", sorted(EXCLUDING))
def test_exclusion_is_exact(name, dense_data, mf):
    s = build_sampler(name, EXCLUDING[name], dense_data, "cpu")
    users, items = (t for t in dense_data.train_pairs)
    idx = torch.randperm(len(users), generator=torch.Generator().manual_seed(1))[:256]
    users, items = users[idx], items[idx]
    ctx = make_context(dense_data, mf)
    s.on_epoch_start(1, ctx)
    neg = s.sample(users, items, 6, ctx)
    assert neg.items.shape == (256, 6)
    train = dense_data.train.toarray() > 0
    assert not train[users[:, None].numpy(), neg.items.numpy()].any()
    for extra in (neg.log_q, neg.weight):
        assert extra is None or extra.shape == neg.items.shape


@pytest.mark.parametrize("name", sorted(EXCLUDING))
def test_seed_makes_runs_reproducible(name, dense_data, mf):
    users, items = dense_data.train_pairs
    users, items = users[:200], items[:200]

    def draw(seed):
        s = build_sampler(name, EXCLUDING[name], dense_data, "cpu")
        ctx = make_context(dense_data, mf, seed)
        s.on_epoch_start(1, ctx)
        return s.sample(users, items, 5, ctx).items

    a, b, c = draw(3), draw(3), draw(4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(EXCLUDING))
def test_samplers_on_cuda(name, dense_data):
    model = build_model("mf", {"embedding_dim": 8, "sparse": False}, dense_data).cuda()
    s = build_sampler(name, EXCLUDING[name], dense_data, "cuda")
    users, items = (t.cuda() for t in dense_data.train_pairs)
    ctx = make_context(dense_data, model, device="cuda")
    s.on_epoch_start(1, ctx)
    neg = s.sample(users, items, 4, ctx)
    assert neg.items.is_cuda
    train = dense_data.train.toarray() > 0
    assert not train[users[:, None].cpu().numpy(), neg.items.cpu().numpy()].any()

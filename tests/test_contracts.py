"""Contract tests driven by the registries: every registered component gets them, none can skip them.

Samplers: shapes, exact exclusion wherever a sampler says it excludes,
reproducible draws under a seed, resumable state, CUDA. Losses: a zero weight
equals dropping that negative, all-ones weights change nothing, a shared [1,K]
negative set equals the same set repeated per row, gradients flow. Models:
scoring agrees with ranking, a checkpoint round trip, a step changes a
trainable model. Selectors: what they return are the user's training items.
Metrics: shape, range, zero without hits.
"""
from __future__ import annotations

import pytest
import torch

from recsys_neg.evaluation.metrics import METRICS
from recsys_neg.losses import LOSSES, build_loss
from recsys_neg.models import MODELS, build_model
from recsys_neg.positives import POSITIVES, build_positive_selector
from recsys_neg.samplers import SAMPLERS, build_sampler
from recsys_neg.step import Step
from recsys_neg.training import StepParts, train_step
from recsys_neg.training.optim import build_optimizer

from helpers import make_step, random_interactions, scorer_for

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def sampler_cases() -> list[tuple[str, dict]]:
    """Every sampler with its defaults, plus an excluding variant where exclusion is an option."""
    cases = []
    for name in SAMPLERS.names():
        cases.append((name, {}))
        fields = SAMPLERS.params_class(name).model_fields
        if "exclude_positives" in fields and not fields["exclude_positives"].default:
            cases.append((name, {"exclude_positives": True, **({"shared": False} if "shared" in fields else {})}))
    return cases


SAMPLER_CASES = sampler_cases()
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items()) or 'defaults'}" for n, p in SAMPLER_CASES]


@pytest.fixture(scope="module")
def dense_data():
    # ~60% of items are positives: rejection needs several rounds and the exact fallbacks
    return random_interactions(40, 30, density=0.6, seed=5, with_splits=False)


@pytest.fixture(scope="module")
def mf(dense_data):
    torch.manual_seed(0)
    return build_model({"name": "mf", "embedding_dim": 8, "sparse": False}, dense_data)


def _draw(name, params, data, model, seed=0, device="cpu", n=256, num=6):
    s = build_sampler({"name": name, **params}, data, device, model=model)
    users, items = (t.to(device) for t in data.train_pairs)
    idx = torch.randperm(len(users), generator=torch.Generator().manual_seed(1))[:n].to(device)
    users, items = users[idx], items[idx]
    step = make_step(seed, device=device)
    s.epoch_start(step)
    count = None if s.num_negatives is None else num  # shared in-batch: the batch decides
    return s, users, s.sample(users, items, count, step, scorer_for(model))


@pytest.mark.parametrize("name,params", SAMPLER_CASES, ids=IDS)
def test_sampler_shapes_and_exclusion(name, params, dense_data, mf):
    s, users, neg = _draw(name, params, dense_data, mf)
    rows, k = neg.items.shape
    assert rows in (1, users.shape[0]) and k >= 1
    for extra in (neg.log_q, neg.weight):
        assert extra is None or extra.shape[-1] == k
    if neg.vectors is not None:  # synthesised negatives: one vector per named item
        assert neg.vectors.shape[:2] == neg.items.shape and neg.vectors.shape[-1] == 8
    assert neg.items.min() >= 0 and neg.items.max() < dense_data.n_items
    if s.excludes_positives:
        assert rows == users.shape[0]
        train = dense_data.train.toarray() > 0
        assert not train[users[:, None].numpy(), neg.items.numpy()].any(), f"{name} returned a training positive"


@pytest.mark.parametrize("name,params", SAMPLER_CASES, ids=IDS)
def test_sampler_draws_repeat_under_a_seed(name, params, dense_data, mf):
    draws = [_draw(name, params, dense_data, mf, seed) for seed in (3, 3, 4)]
    a, b, c = (d[2].items for d in draws)
    assert torch.equal(a, b)
    if draws[0][0].random_draws:  # shared in-batch negatives (or a memory of them) are the batch: no randomness
        assert not torch.equal(a, c)
    vectors = [d[2].vectors for d in draws]
    if vectors[0] is not None:  # synthesised negatives repeat too
        assert torch.equal(vectors[0], vectors[1])


@pytest.mark.parametrize("name,params", SAMPLER_CASES, ids=IDS)
def test_sampler_state_round_trip(name, params, dense_data, mf):
    s, users, _ = _draw(name, params, dense_data, mf)
    fresh = build_sampler({"name": name, **params}, dense_data, "cpu", model=mf)
    fresh.load_state_dict(s.state_dict())
    items = dense_data.train_pairs[1][: users.shape[0]]
    num = None if s.num_negatives is None else 6
    got = [x.sample(users, items, num, make_step(9), scorer_for(mf)).items for x in (s, fresh)]
    assert torch.equal(got[0], got[1])


@CUDA
@pytest.mark.parametrize("name,params", SAMPLER_CASES, ids=IDS)
def test_sampler_on_cuda(name, params, dense_data):
    model = build_model({"name": "mf", "embedding_dim": 8, "sparse": False}, dense_data).cuda()
    s, users, neg = _draw(name, params, dense_data, model, device="cuda")
    assert neg.items.is_cuda
    if s.excludes_positives:
        train = dense_data.train.toarray() > 0
        assert not train[users[:, None].cpu().numpy(), neg.items.cpu().numpy()].any()


# ---- losses ---------------------------------------------------------------
def _scores(seed=0, b=5, k=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, generator=g) * 0.5, torch.randn(b, k, generator=g) * 0.5


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_weights_mean_what_they_say(name):
    data = random_interactions(5, 6)
    loss = build_loss({"name": name}, data)
    pos, neg = _scores()
    base = loss.per_example(pos, neg)
    assert base.shape == pos.shape and torch.isfinite(base).all()
    assert torch.allclose(loss.per_example(pos, neg, weight=torch.ones_like(neg)), base, atol=1e-6)
    w = torch.ones_like(neg)
    w[:, 0] = 0  # a zero weight removes that negative
    assert torch.allclose(loss.per_example(pos, neg, weight=w), loss.per_example(pos, neg[:, 1:]), atol=1e-6)


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_shared_negatives_equal_repeated_rows_and_gradients_flow(name):
    loss = build_loss({"name": name}, random_interactions(5, 6))
    pos, _ = _scores(1)
    shared = torch.randn(1, 7)
    assert torch.allclose(loss.per_example(pos, shared.expand(5, -1)), loss.per_example(pos, shared.repeat(5, 1)))
    pos, neg = (t.clone().requires_grad_(True) for t in _scores(2))
    value = loss(pos, neg, step=Step(1, 1))
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    assert pos.grad is not None and neg.grad is not None
    assert all(isinstance(v, float) for v in loss.diagnostics().values())


# ---- models ---------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS.names())
def test_model_scoring_agrees_with_ranking(name):
    data = random_interactions(30, 25, seed=2)
    torch.manual_seed(0)
    model = build_model({"name": name}, data).eval()
    if model.self_training:  # fitted, so the comparison is not between two zero tables
        model.fit_epoch(make_step(0))
    users = torch.tensor([0, 4, 9])
    with model.ranking() as rank:
        full = rank(users)
    assert full.shape == (3, data.n_items)
    scorer = scorer_for(model)
    per_row = torch.tensor([[1, 2], [3, 4], [5, 6]])
    assert torch.allclose(scorer(users, per_row), full.gather(1, per_row), atol=1e-5)
    assert torch.allclose(scorer(users, per_row[:, 0]), full.gather(1, per_row[:, :1]).squeeze(1), atol=1e-5)
    shared = torch.tensor([[7, 8, 9]])
    assert torch.allclose(scorer(users, shared), full[:, 7:10], atol=1e-5)
    assert not model.training or name == "mostpop"


@pytest.mark.parametrize("name", MODELS.names())
def test_model_checkpoint_round_trip_and_a_step_learns(name):
    data = random_interactions(30, 25, seed=2)
    torch.manual_seed(0)
    model = build_model({"name": name}, data)
    torch.manual_seed(1)
    copy = build_model({"name": name}, data)
    copy.load_state_dict(model.state_dict())
    users = torch.arange(10)
    with model.ranking() as a, copy.ranking() as b:
        assert torch.equal(a(users), b(users))
    if not model.trainable:
        return
    before = {k: v.clone() for k, v in model.state_dict().items()}
    if model.self_training:  # fits itself, an epoch at a time
        model.fit_epoch(make_step(0))
        assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
        return
    sampler = build_sampler({"name": "uniform"}, data)
    loss = build_loss({"name": "bpr"}, data)
    parts = StepParts(model, sampler, build_positive_selector({"name": "all"}, data), loss,
                      build_optimizer(model, "adam", 0.05), l2=1e-4)
    u, i = data.train_pairs
    value = train_step(parts, u[:64], i[:64], make_step(0))
    assert value == value  # not NaN
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.regularization(u[:8], i[:8]).item() >= 0


# ---- positive selectors -----------------------------------------------------
@pytest.mark.parametrize("name", POSITIVES.names())
def test_selector_returns_the_users_own_training_items(name):
    data = random_interactions(30, 25, seed=3, with_splits=False)
    model = build_model({"name": "mf", "embedding_dim": 4}, data)
    sampler = build_sampler({"name": "uniform"}, data)
    sel = build_positive_selector({"name": name}, data, loss=build_loss({"name": "bpr"}, data), sampler=sampler)
    users, items = data.train_pairs
    step = make_step(0, epoch=100)  # past any warm-up
    sel.epoch_start(step)
    out = sel.select(users, items, step, scorer_for(model))
    assert out.shape == items.shape
    train = data.train.toarray() > 0
    assert train[users.numpy(), out.numpy()].all()


# ---- metrics ----------------------------------------------------------------
@pytest.mark.parametrize("name", METRICS.names())
def test_metric_shape_range_and_zero_without_hits(name):
    g = torch.Generator().manual_seed(0)
    hits = torch.rand(20, 10, generator=g) < 0.3
    n_rel = hits.sum(1) + torch.randint(0, 3, (20,), generator=g) + 1
    fn = METRICS.get(name)
    values = fn(hits, n_rel, 5)
    assert values.shape == (20,) and torch.isfinite(values).all()
    assert (values >= 0).all() and (values <= 1 + 1e-6).all()
    assert torch.equal(fn(torch.zeros_like(hits), n_rel, 5), torch.zeros(20))


# ---- batch orders -------------------------------------------------------------
@pytest.mark.parametrize("name", __import__("recsys_neg.batching", fromlist=["BATCHING"]).BATCHING.names())
def test_batch_order_is_a_reproducible_permutation(name):
    from recsys_neg.batching import build_batching

    data = random_interactions(30, 25, seed=3, with_splits=False)
    model = build_model({"name": "mf", "embedding_dim": 4}, data)
    order = build_batching({"name": name}, data, model=model)
    n = data.n_train
    a, b = order.order(n, make_step(5)), order.order(n, make_step(5))
    assert torch.equal(torch.sort(a).values, torch.arange(n))
    assert torch.equal(a, b)

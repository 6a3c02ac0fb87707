"""Score-based samplers on a fixed MF: harder (dns), more ambiguous (simans), retriever-hard (als_static)."""
import numpy as np
import pytest
import torch
from scipy import stats

from recsys_neg.errors import ConfigError
from recsys_neg.models import build_model
from recsys_neg.samplers import build_sampler
from recsys_neg.samplers.simans import ambiguity_logits
from recsys_neg.step import Step

from helpers import make_step, random_interactions, scorer_for


@pytest.fixture(scope="module")
def data():
    return random_interactions(60, 80, density=0.15, seed=7, with_splits=False)


@pytest.fixture(scope="module")
def mf(data):
    torch.manual_seed(0)
    model = build_model({"name": "mf", "embedding_dim": 8, "sparse": False, "init_std": 1.0}, data)
    return model.eval()


def ctx(data, model, seed=0):
    """(step, scorer) as a training step hands them to a sampler."""
    return make_step(seed), scorer_for(model)


def score(model, users, items):
    return scorer_for(model)(users, items)


def batch(data, n=512):
    users, items = data.train_pairs
    idx = torch.randint(len(users), (n,), generator=torch.Generator().manual_seed(9))
    return users[idx], items[idx]


def mean_score(model, users, items):
    with torch.no_grad():
        return score(model, users, items).mean().item()


class CountingEncode:
    """Wraps a model's encode() to count calls: score-based samplers must reuse the step's encoding."""

    def __init__(self, model):
        self.model, self.calls = model, 0
        self.original = model.encode

    def __enter__(self):
        def counted():
            self.calls += 1
            return self.original()
        self.model.encode = counted
        return self

    def __exit__(self, *exc):
        self.model.encode = self.original


def test_dns_negatives_score_higher_than_uniform(data, mf):
    users, pos = batch(data)
    c = ctx(data, mf)
    uni = build_sampler({"name": "uniform"}, data, "cpu").sample(users, pos, 4, *c).items
    with CountingEncode(mf) as counter:
        hard = build_sampler({"name": "dns", "candidates": 16}, data, "cpu").sample(users, pos, 4, *c).items
    assert counter.calls == 0
    assert mean_score(mf, users, hard) > mean_score(mf, users, uni) + 0.5


def test_dns_per_row_top_keeps_the_best_candidates(data, mf):
    users, pos = batch(data, 64)
    s = build_sampler({"name": "dns", "candidates": 20, "pool": "per_row"}, data, "cpu")
    got = s.sample(users, pos, 5, *ctx(data, mf, seed=3)).items
    cand = s.pool.draw(users, 20, make_step(3))  # the same draws under the same seed
    with torch.no_grad():
        scores = score(mf, users, cand)
    expected = cand.gather(1, scores.topk(5, dim=1).indices)
    assert torch.equal(got, expected)


def test_dns_softmax_is_harder_at_lower_temperature(data, mf):
    users, pos = batch(data)
    means = []
    for t in (10.0, 0.3):
        s = build_sampler({"name": "dns", "candidates": 16, "selection": "softmax", "temperature": t}, data, "cpu")
        means.append(mean_score(mf, users, s.sample(users, pos, 4, *ctx(data, mf)).items))
    assert means[1] > means[0]


def test_dns_per_row_needs_enough_candidates_at_load(data, mf):
    with pytest.raises(ConfigError, match="candidates: 3 per row cannot give num_negatives=5"):
        build_sampler({"name": "dns", "candidates": 3, "pool": "per_row", "num_negatives": 5}, data, "cpu")
    # a composite sampler asking a part for more than its candidates is refused too
    s = build_sampler({"name": "dns", "candidates": 3, "pool": "per_row"}, data, "cpu")
    users, pos = batch(data, 8)
    with pytest.raises(ValueError, match="3 candidates per row cannot give 5"):
        s.sample(users, pos, 5, *ctx(data, mf))


def test_ambiguity_logits_by_hand():
    neg = torch.tensor([[0.0, 1.0, 3.0]])
    pos = torch.tensor([1.5])
    got = ambiguity_logits(neg, pos, a=2.0, b=0.5)
    assert torch.allclose(got, torch.tensor([[-2 * 4.0, -2 * 1.0, -2 * 1.0]]))


def test_simans_draws_follow_its_distribution_over_candidates(data, mf, monkeypatch):
    s = build_sampler({"name": "simans", "candidates": 6, "a": 0.5, "b": 0.0}, data, "cpu")
    user = torch.tensor([3])
    pos = torch.tensor([int(data.train[3].indices[0])])
    allowed = np.flatnonzero(data.train.toarray()[3] == 0)[:6]
    fixed = torch.from_numpy(allowed).long().unsqueeze(0)
    monkeypatch.setattr(s.pool, "draw", lambda users, n, context: fixed.expand(users.shape[0], -1).clone())
    n = 20000
    users, positives = user.repeat(n), pos.repeat(n)
    draws = s.sample(users, positives, 1, *ctx(data, mf)).items.ravel()
    with torch.no_grad():
        p = torch.softmax(ambiguity_logits(score(mf, user, fixed), score(mf, user, pos), 0.5, 0.0), -1)[0]
    counts = np.array([(draws == i).sum().item() for i in allowed])
    p = p.double().numpy()
    assert stats.chisquare(counts, p / p.sum() * n).pvalue > 1e-3


def test_simans_negatives_are_closer_to_the_positive_than_uniform(data, mf):
    users, pos = batch(data)
    c = ctx(data, mf)
    with torch.no_grad():
        s_pos = score(mf, users, pos).unsqueeze(1)

    def gap(items):
        with torch.no_grad():
            return (score(mf, users, items) - s_pos).abs().mean().item()

    uni = build_sampler({"name": "uniform"}, data, "cpu").sample(users, pos, 4, *c).items
    amb = build_sampler({"name": "simans", "candidates": 32, "a": 2.0}, data, "cpu").sample(users, pos, 4, *c).items
    assert gap(amb) < 0.7 * gap(uni)


def test_als_static_lists_are_top_unseen_under_als(data, mf):
    s = build_sampler({"name": "als_static", "top_k": 10, "factors": 8, "iterations": 5}, data, "cpu")
    s.epoch_start(Step(1))
    from recsys_neg.samplers.als_static import fit_als
    uf, itf = fit_als(data.train, s.params, s.params.seed)
    scores = uf @ itf.T
    train = data.train.toarray() > 0
    scores[train] = -np.inf
    expected = np.sort(np.argsort(-scores, axis=1)[:, :10], axis=1)
    assert np.array_equal(np.sort(s.hard.numpy(), axis=1), expected)
    users, pos = batch(data)
    neg = s.sample(users, pos, 3, *ctx(data, mf)).items
    uni = torch.randint(data.n_items, neg.shape)
    als = lambda u, i: (uf[u.numpy()[:, None]] * itf[i.numpy()]).sum(-1).mean()  # noqa: E731
    assert als(users, neg) > als(users, uni)


def test_als_static_refreshes_from_the_model(data, mf):
    s = build_sampler({"name": "als_static", "top_k": 5, "factors": 4, "iterations": 2, "refresh_every": 2,
                                     "refresh_with": "model"}, data, "cpu", model=mf)
    c = ctx(data, mf)
    s.epoch_start(Step(1))
    first = s.hard.clone()
    s.epoch_start(Step(2))
    assert torch.equal(s.hard, first)  # not yet due
    s.epoch_start(Step(3))
    with mf.ranking() as rank:
        scores = rank(torch.arange(data.n_users))
    scores[torch.from_numpy(data.train.toarray() > 0)] = -torch.inf
    expected = scores.topk(5, dim=1).indices
    assert torch.equal(s.hard.sort(1).values, expected.sort(1).values)
    users, pos = batch(data)
    hard = s.sample(users, pos, 3, *c).items
    uni = build_sampler({"name": "uniform"}, data, "cpu").sample(users, pos, 3, *c).items
    assert mean_score(mf, users, hard) > mean_score(mf, users, uni)


def test_chunked_scores_equal_one_call(data, mf):
    from recsys_neg.samplers.candidates import scores_in_chunks
    c = ctx(data, mf)
    users = torch.arange(30)
    for items in (torch.randint(data.n_items, (30, 50)), torch.randint(data.n_items, (1, 50))):
        with torch.no_grad():
            assert torch.allclose(scores_in_chunks(c[1], users, items, max_pairs=70), score(mf, users, items),
                                  atol=1e-5)

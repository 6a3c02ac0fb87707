"""MixGCF and MoCHi: synthesised negatives against the papers' formulas computed by hand."""
from __future__ import annotations

import pytest
import torch

from recsys_neg.losses import build_loss
from recsys_neg.models import build_model
from recsys_neg.positives import build_positive_selector
from recsys_neg.samplers import build_sampler
from recsys_neg.samplers.mochi import MIX_NEG, MIX_POS, REAL, slot_kinds
from recsys_neg.training import StepParts, train_step
from recsys_neg.training.optim import build_optimizer

from helpers import make_step, random_interactions, scorer_for

DATA = random_interactions(20, 30, density=0.2, seed=3, with_splits=False)


class LayeredTables:
    """A Representations with explicit per-layer tables (no model): pooled = mean of layers."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor):  # [n, L, d]
        self.users, self.items = users, items

    def user_layers(self, u):
        return self.users[u]

    def item_layers(self, i):
        return self.items[i]

    def pool_layers(self, layers):
        return layers.mean(-2)

    def user_vectors(self, u):
        return self.users[u].mean(-2)

    def item_vectors(self, i):
        return self.items[i].mean(-2)

    def scores_of(self, u, v):
        uv = self.user_vectors(u)
        return (uv.unsqueeze(1) * v).sum(-1) if v.dim() == 3 else (uv * v).sum(-1)

    def __call__(self, u, i):
        return self.scores_of(u, self.item_vectors(i))


def fixed_pool(sampler, cand: torch.Tensor):
    """Replace the uniform pool by fixed candidates (it then uses no randomness)."""
    sampler.pool.draw = lambda users, n, step: cand[: users.shape[0], :n].clone()


@pytest.mark.parametrize("n_layers", [1, 3])
def test_mixgcf_is_positive_mixing_then_hop_mixing_by_hand(n_layers):
    g = torch.Generator().manual_seed(0)
    rep = LayeredTables(torch.randn(20, n_layers, 4, generator=g), torch.randn(30, n_layers, 4, generator=g))
    s = build_sampler({"name": "mixgcf", "candidates": 5}, DATA)
    users, pos = torch.tensor([0, 3, 7]), torch.tensor([1, 2, 4])
    cand = torch.randint(30, (3, 2 * 5), generator=g)
    fixed_pool(s, cand)
    neg = s.sample(users, pos, 2, make_step(11), rep)
    alpha = torch.rand((3, 2, n_layers), generator=torch.Generator().manual_seed(11))  # the sampler's first draw
    for b in range(3):
        u = rep.user_vectors(users[b:b + 1])[0]
        for k in range(2):
            layers, kept = [], []
            for layer in range(n_layers):
                a = alpha[b, k, layer].item()
                mixes = [a * rep.items[pos[b], layer] + (1 - a) * rep.items[c, layer] for c in cand[b, k * 5:(k + 1) * 5]]
                best = max(range(5), key=lambda m: float(u @ mixes[m]))
                layers.append(mixes[best])
                kept.append(int(cand[b, k * 5 + best]))
            assert torch.allclose(neg.vectors[b, k], torch.stack(layers).mean(0), atol=1e-6)
            assert neg.items[b, k] == kept[0]


def test_mixgcf_on_lightgcn_trains_the_positive_and_the_kept_candidates():
    torch.manual_seed(0)
    model = build_model({"name": "lightgcn", "embedding_dim": 8, "num_layers": 2}, DATA)
    s = build_sampler({"name": "mixgcf", "candidates": 4}, DATA)
    users, pos = DATA.train_pairs[0][:6], DATA.train_pairs[1][:6]
    neg = s.sample(users, pos, 1, make_step(0), scorer_for(model))
    assert neg.vectors.shape == (6, 1, 8) and neg.vectors.requires_grad
    neg.vectors.sum().backward()
    grad_rows = model.embedding.grad.abs().sum(1) > 0
    assert grad_rows[DATA.n_users + pos].all()  # the positive is mixed in


def test_mixgcf_with_mf_picks_the_hardest_mixture_and_excludes_positives():
    torch.manual_seed(1)
    model = build_model({"name": "mf", "embedding_dim": 8, "sparse": False}, DATA)
    s = build_sampler({"name": "mixgcf", "candidates": 30}, DATA)
    users, pos = DATA.train_pairs[0], DATA.train_pairs[1]
    neg = s.sample(users, pos, 3, make_step(2), scorer_for(model))
    train = torch.from_numpy(DATA.train.toarray() > 0)
    assert not train[users.unsqueeze(1), neg.items].any()
    # one layer: the mixture is a e_pos + (1 - a) e_item with a in (0, 1)
    with torch.no_grad():
        p, v = model.item_emb(pos).unsqueeze(1), model.item_emb(neg.items)
        a = ((neg.vectors - v) * (p - v)).sum(-1) / (p - v).pow(2).sum(-1)
        assert torch.allclose(a.unsqueeze(-1) * p + (1 - a.unsqueeze(-1)) * v, neg.vectors, atol=1e-5)
        assert ((a > 0) & (a < 1)).all()


def test_slot_kinds_give_each_kind_its_share_and_never_exceed_num():
    for num in (1, 3, 8):
        k = slot_kinds(40000, num, (0.5, 0.25), torch.Generator().manual_seed(0), "cpu")
        shares = [(k == kind).float().mean().item() for kind in (REAL, MIX_NEG, MIX_POS)]
        assert shares == pytest.approx([0.25, 0.5, 0.25], abs=0.01)
        counts = (k == MIX_NEG).sum(1)
        assert counts.min() >= int(0.5 * num) and counts.max() <= -(-num // 2)  # floor or ceil of the share


def test_mochi_mixtures_by_hand():
    g = torch.Generator().manual_seed(0)
    rep = LayeredTables(torch.randn(20, 1, 4, generator=g), torch.randn(30, 1, 4, generator=g))
    s = build_sampler({"name": "mochi", "candidates": 8, "hardest": 3, "mix_negatives": 0.5,
                       "mix_positive": 0.25, "detach_synthetic": False}, DATA)
    users, pos = torch.tensor([0, 3, 7, 9]), torch.tensor([1, 2, 4, 5])
    cand = torch.randint(30, (4, 8), generator=g)
    fixed_pool(s, cand)
    neg = s.sample(users, pos, 8, make_step(5), rep)
    gen = torch.Generator().manual_seed(5)  # the sampler's draws, in its order
    kinds = slot_kinds(4, 8, (0.5, 0.25), gen, "cpu")
    i = torch.randint(3, (4, 8), generator=gen)
    j = (i + 1 + torch.randint(2, (4, 8), generator=gen)) % 3
    lam = torch.rand((4, 8), generator=gen)
    for b in range(4):
        scores = rep(users[b:b + 1], cand[b:b + 1])[0]
        hard = [int(x) for x in scores.argsort(descending=True)[:3]]
        vec = lambda idx: rep.item_vectors(cand[b, idx:idx + 1])[0]  # noqa: E731
        for k in range(8):
            if kinds[b, k] == MIX_NEG:
                want = lam[b, k] * vec(hard[i[b, k]]) + (1 - lam[b, k]) * vec(hard[j[b, k]])
                assert i[b, k] != j[b, k]
            elif kinds[b, k] == MIX_POS:
                beta = lam[b, k] * 0.5
                want = beta * rep.item_vectors(pos[b:b + 1])[0] + (1 - beta) * vec(hard[j[b, k]])
                assert neg.items[b, k] == cand[b, hard[j[b, k]]]
            else:
                want = vec(k)
                assert neg.items[b, k] == cand[b, k] and torch.equal(neg.vectors[b, k], want)
            assert torch.allclose(neg.vectors[b, k], want, atol=1e-6)


def test_mochi_normalises_for_cosine_and_detaches_synthetic_points():
    torch.manual_seed(0)
    users, pos = DATA.train_pairs[0][:32], DATA.train_pairs[1][:32]
    cos = build_model({"name": "mf", "embedding_dim": 8, "sparse": False, "similarity": "cosine"}, DATA)
    s = build_sampler({"name": "mochi", "num_negatives": 6, "mix_negatives": 0.5, "mix_positive": 0.5}, DATA,
                      model=cos)
    neg = s.sample(users, pos, 6, make_step(1), scorer_for(cos))
    norms = neg.vectors.norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)  # every slot synthetic here
    dot = build_model({"name": "mf", "embedding_dim": 8, "sparse": False}, DATA)
    s = build_sampler({"name": "mochi", "num_negatives": 6, "mix_negatives": 0.5, "mix_positive": 0.0}, DATA,
                      model=dot)
    neg = s.sample(users, pos, 6, make_step(1), scorer_for(dot))
    assert not torch.allclose(neg.vectors.norm(dim=-1), torch.ones(32, 6), atol=1e-2)
    neg.vectors.sum().backward()  # only the real (uniform) half carries gradient
    real = neg.items[:, 3:].reshape(-1).unique()
    touched = (dot.item_emb.weight.grad.abs().sum(1) > 0).nonzero().squeeze(1)
    assert set(touched.tolist()) == set(real.tolist())


@pytest.mark.parametrize("sampler", [{"name": "mixgcf", "candidates": 4},
                                     {"name": "mochi", "num_negatives": 4, "candidates": 8, "hardest": 4},
                                     {"name": "fn_aware", "num_negatives": 2, "base": {"name": "mixgcf"}},
                                     {"name": "mixed", "num_negatives": 3, "parts": [
                                         {"name": "mochi", "fraction": 0.5}, {"name": "uniform", "fraction": 0.5}]}])
def test_a_train_step_scores_the_synthesised_vectors(sampler):
    torch.manual_seed(0)
    model = build_model({"name": "mf", "embedding_dim": 8, "sparse": False}, DATA)
    s = build_sampler(sampler, DATA, model=model)
    scorer = scorer_for(model)
    users, pos = DATA.train_pairs[0][:16], DATA.train_pairs[1][:16]
    neg = s.sample(users, pos, s.num_negatives, make_step(3), scorer)
    assert neg.vectors is not None and neg.vectors.shape[:2] == neg.items.shape
    loss = build_loss({"name": "bpr"}, DATA)
    parts = StepParts(model, s, build_positive_selector({"name": "all"}, DATA), loss,
                      build_optimizer(model, "adam", 0.01))
    # the step's loss is computed from the synthesised vectors (same draws: same seed), not the named items
    with torch.no_grad():
        u = model.user_emb(users)
        want = loss(model.score_vectors(u, model.item_emb(pos)), model.score_vectors(u, neg.vectors))
        by_items = loss(model.score_vectors(u, model.item_emb(pos)), model.score_vectors(u, model.item_emb(neg.items)))
    value = train_step(parts, users, pos, make_step(3))
    assert value == pytest.approx(float(want), abs=1e-5)
    assert abs(float(by_items) - float(want)) > 1e-7

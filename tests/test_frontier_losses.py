"""Debiased, decoupled and hardness-weighted InfoNCE against the papers' formulas by hand;
the temperature option (fixed, learnable, scheduled) of the softmax-family losses."""
from __future__ import annotations

import math

import pytest
import torch

from recsys_neg.config import config_from_dict
from recsys_neg.errors import ConfigError
from recsys_neg.losses import build_loss
from recsys_neg.step import Step

from helpers import random_interactions

DATA = random_interactions(5, 6)
POS = torch.tensor([0.8, -0.2])
NEG = torch.tensor([[0.95, 0.1, 0.92], [0.5, 0.99, -0.3]])


def loss(name, **params):
    return build_loss({"name": name, **params}, DATA)


def hand_debiased(pos, negs, t, tau_plus, w=None):
    """Chuang et al. Eq. 7 (M = 1), official clamp; weights as fractional counts."""
    w = w or [1.0] * len(negs)
    n = sum(w)
    neg_sum = sum(wj * math.exp(s / t) for wj, s in zip(w, negs))
    ng = max((neg_sum - tau_plus * n * math.exp(pos / t)) / (1 - tau_plus), n * math.exp(-1 / t))
    return -math.log(math.exp(pos / t) / (math.exp(pos / t) + ng))


def hand_hcl(pos, negs, t, beta, tau_plus, w=None):
    """Robinson et al.'s estimator: imp = exp(beta s/t), N * sum(imp e)/sum(imp)."""
    w = w or [1.0] * len(negs)
    n = sum(w)
    imp = [wj * math.exp(beta * s / t) for wj, s in zip(w, negs)]
    rew = n * sum(i * math.exp(s / t) for i, s in zip(imp, negs)) / sum(imp)
    ng = max((rew - tau_plus * n * math.exp(pos / t)) / (1 - tau_plus), n * math.exp(-1 / t))
    return -math.log(math.exp(pos / t) / (math.exp(pos / t) + ng))


@pytest.mark.parametrize("t,tau_plus", [(0.5, 0.1), (0.2, 0.3), (1.0, 0.0)])
def test_debiased_matches_the_paper(t, tau_plus):
    got = loss("debiased", temperature=t, tau_plus=tau_plus).per_example(POS, NEG)
    want = [hand_debiased(POS[i].item(), NEG[i].tolist(), t, tau_plus) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)


def test_debiased_clamp_is_active_when_the_correction_overshoots():
    # tau+ large and a strong positive: the corrected sum goes below N e^{-1/t} and is clamped
    pos, neg = torch.tensor([0.99]), torch.tensor([[-0.9, -0.8]])
    got = loss("debiased", temperature=0.5, tau_plus=0.5).per_example(pos, neg)
    ng = 2 * math.exp(-2)
    assert got.item() == pytest.approx(-math.log(math.exp(1.98) / (math.exp(1.98) + ng)), abs=1e-5)
    assert (sum(math.exp(s / 0.5) for s in (-0.9, -0.8)) - 0.5 * 2 * math.exp(1.98)) / 0.5 < ng


def test_debiased_with_tau_plus_zero_is_infonce():
    a = loss("debiased", temperature=0.3, tau_plus=0.0, ).per_example(POS, NEG)
    b = loss("softmax", temperature=0.3).per_example(POS, NEG)
    assert torch.allclose(a, b, atol=1e-5)


def test_debiased_weights_are_fractional_counts_and_log_space_is_stable():
    w = torch.tensor([[1.0, 0.5, 2.0], [0.0, 1.0, 1.0]])
    got = loss("debiased", temperature=0.5, tau_plus=0.1).per_example(POS, NEG, weight=w)
    want = [hand_debiased(POS[i].item(), NEG[i].tolist(), 0.5, 0.1, w[i].tolist()) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)
    big = loss("debiased", temperature=0.01, tau_plus=0.1).per_example(POS * 50, NEG * 50)  # e^{4000}
    assert torch.isfinite(big).all()


def test_decoupled_drops_the_positive_from_the_denominator():
    t = 0.5
    got = loss("decoupled", temperature=t).per_example(POS, NEG)
    want = [-POS[i].item() / t + math.log(sum(math.exp(s / t) for s in NEG[i].tolist())) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)
    # softmax = decoupled + log(1 + e^{s_pos/t} / sum e^{s_neg/t}): the coupling term
    soft = loss("softmax", temperature=t).per_example(POS, NEG)
    coupling = [math.log(1 + math.exp(POS[i].item() / t) / sum(math.exp(s / t) for s in NEG[i].tolist()))
                for i in range(2)]
    assert torch.allclose(soft - got, torch.tensor(coupling), atol=1e-5)


def test_decoupled_log_q_and_dclw_weights():
    t, lq = 0.5, torch.tensor([[-1.0, -2.0, -0.5]])
    got = loss("decoupled", temperature=t).per_example(POS, NEG, log_q=lq.expand(2, -1))
    want = [-POS[i].item() / t + math.log(sum(math.exp(s / t - q) for s, q in zip(NEG[i].tolist(), lq[0].tolist())))
            for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)
    sigma = 0.5
    got = loss("decoupled", temperature=t, vmf_sigma=sigma).per_example(POS, NEG)
    e = [math.exp(p / sigma) for p in POS.tolist()]
    wpos = [2 - 2 * x / sum(e) for x in e]
    want = [-wpos[i] * POS[i].item() / t + math.log(sum(math.exp(s / t) for s in NEG[i].tolist())) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)


def test_decoupled_row_without_any_negative_is_zero_and_grads_are_finite():
    pos = torch.tensor([0.3, 0.1], requires_grad=True)
    neg = torch.tensor([[0.2, 0.4], [0.1, 0.0]], requires_grad=True)
    w = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    for name in ("decoupled", "debiased", "hard_infonce", "softmax"):
        pos.grad = neg.grad = None
        out = loss(name, temperature=1.0).per_example(pos, neg, weight=w)
        assert out[0].item() == pytest.approx(0.0) and torch.isfinite(out[1])
        out.sum().backward()
        assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
        assert neg.grad[0].abs().sum() == 0


@pytest.mark.parametrize("beta,tau_plus", [(1.0, 0.0), (0.5, 0.1), (3.0, 0.0)])
def test_hard_infonce_matches_robinson_et_al(beta, tau_plus):
    t = 0.5
    got = loss("hard_infonce", temperature=t, beta=beta, tau_plus=tau_plus).per_example(POS, NEG)
    want = [hand_hcl(POS[i].item(), NEG[i].tolist(), t, beta, tau_plus) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)
    w = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.0, 1.0]])
    got = loss("hard_infonce", temperature=t, beta=beta, tau_plus=tau_plus).per_example(POS, NEG, weight=w)
    want = [hand_hcl(POS[i].item(), NEG[i].tolist(), t, beta, tau_plus, w[i].tolist()) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)


def test_hard_infonce_beta_zero_is_infonce_and_large_beta_tends_to_the_hardest_negative():
    assert torch.allclose(loss("hard_infonce", temperature=0.4, beta=0.0).per_example(POS, NEG),
                          loss("softmax", temperature=0.4).per_example(POS, NEG), atol=1e-5)
    t = 0.5
    values = [loss("hard_infonce", temperature=t, beta=b).per_example(POS, NEG) for b in (0.0, 1.0, 4.0, 200.0)]
    assert all((a < b).all() for a, b in zip(values, values[1:]))  # harder weighting, larger loss
    # beta -> inf: the weighted mean is e^{max s/t}, i.e. N copies of the hardest negative
    hardest = [-math.log(math.exp(POS[i].item() / t) / (math.exp(POS[i].item() / t)
                                                        + 3 * math.exp(max(NEG[i].tolist()) / t))) for i in range(2)]
    assert torch.allclose(values[-1], torch.tensor(hardest), atol=1e-4)


# ---- temperature ----------------------------------------------------------------
def test_fixed_float_and_long_form_agree():
    a = loss("softmax", temperature=0.3).per_example(POS, NEG)
    b = loss("softmax", temperature={"mode": "fixed", "value": 0.3}).per_example(POS, NEG)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["softmax", "decoupled", "debiased", "hard_infonce"])
def test_learnable_temperature_is_a_clamped_parameter_that_trains(name):
    fn = loss(name, temperature={"mode": "learnable", "value": 0.5, "min": 0.2, "max": 2.0})
    params = list(fn.parameters())
    assert len(params) == 1
    fixed = loss(name, temperature=0.5)
    assert torch.allclose(fn(POS, NEG, step=Step(1, 1)), fixed(POS, NEG, step=Step(1, 1)), atol=1e-6)
    fn(POS, NEG, step=Step(1, 1)).backward()
    assert params[0].grad is not None and params[0].grad.abs() > 0
    with torch.no_grad():
        params[0].fill_(math.log(50.0))
    assert fn.diagnostics()["temperature"] == pytest.approx(2.0)  # clamped to max
    with torch.no_grad():
        params[0].fill_(math.log(1e-4))
    assert fn.diagnostics()["temperature"] == pytest.approx(0.2)


@pytest.mark.parametrize("shape,mid", [("linear", 0.55), ("cosine", 0.55), ("exponential", math.sqrt(0.1))])
def test_scheduled_temperature_follows_the_global_step(shape, mid):
    fn = loss("softmax", temperature={"mode": "schedule", "value": 1.0, "end": 0.1, "steps": 100, "shape": shape})
    seen = {}
    for s in (0, 50, 100, 500):
        fn(POS, NEG, step=Step(1, s))
        seen[s] = fn.diagnostics()["temperature"]
    assert seen[0] == pytest.approx(1.0) and seen[100] == pytest.approx(0.1) and seen[500] == pytest.approx(0.1)
    assert seen[50] == pytest.approx(mid)
    fn(POS, NEG, step=Step(1, 50))
    want = [-math.log(math.exp(POS[i].item() / mid) / (math.exp(POS[i].item() / mid) + sum(
        math.exp(s / mid) for s in NEG[i].tolist()))) for i in range(2)]
    assert torch.allclose(fn.per_example(POS, NEG), torch.tensor(want), atol=1e-5)


def test_temperature_survives_a_loss_switch_and_bad_values_name_the_field():
    cfg = config_from_dict({"loss": {"name": "softmax", "temperature": {"mode": "learnable", "value": 0.2}}},
                           overrides=["loss.name=decoupled"])
    assert cfg.loss.temperature.mode == "learnable" and cfg.loss.temperature.value == 0.2
    with pytest.raises(ConfigError, match="temperature"):
        loss("softmax", temperature={"mode": "schedule", "value": 1.0})
    with pytest.raises(ConfigError, match="temperature"):
        loss("decoupled", temperature={"mode": "learnable", "value": 5.0, "max": 1.0})
    with pytest.raises(ConfigError, match="temperature"):
        loss("debiased", temperature=-1)


def test_learnable_temperature_is_in_the_optimiser_and_the_state():
    from recsys_neg.models import build_model
    from recsys_neg.training.optim import build_optimizer

    fn = loss("softmax", temperature={"mode": "learnable", "value": 0.5})
    model = build_model({"name": "mf", "embedding_dim": 4}, DATA)
    opt = build_optimizer(model, "adam", 0.1, extra=[fn])
    before = fn.tau.log_t.item()
    opt.zero_grad()
    fn(POS, NEG, step=Step(1, 1)).backward()
    opt.step()
    assert fn.tau.log_t.item() != before
    again = loss("softmax", temperature={"mode": "learnable", "value": 0.5})
    again.load_state_dict(fn.state_dict())
    assert again.diagnostics() == fn.diagnostics()

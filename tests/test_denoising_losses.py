"""T-CE, R-CE, NBPO against hand computation; the noise-separation AUC against sklearn / brute force."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from helpers import TableModel, random_interactions, scorer_for
from recsys_neg.step import Step
from recsys_neg.data.noise import NoiseConfig, inject_noise
from recsys_neg.evaluation.noise_separation import NoiseSeparationHook, auc_global, auc_per_user
from recsys_neg.losses import build_loss
from recsys_neg.models import build_model
from recsys_neg.training.optim import build_optimizer

DATA = random_interactions(n_users=10, n_items=12, seed=0)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# ---------------------------------------------------------------- T-CE
@pytest.mark.parametrize("step, expected_drop", [(0, 0), (1, 2), (5, 10), (10, 20), (40, 20)])
def test_tce_drops_the_scheduled_number_of_largest_loss_positives(step, expected_drop):
    loss = build_loss({"name": "tce", "max_drop_rate": 0.4, "num_gradual": 10}, DATA)
    pos = torch.linspace(-3, 3, 50)[torch.randperm(50, generator=torch.Generator().manual_seed(0))]
    assert loss.drop_rate(step) == pytest.approx(0.4 * min(step / 10, 1))
    keep = loss.keep_mask(torch.nn.functional.softplus(-pos), step)
    assert int((~keep).sum()) == expected_drop  # floor(rate * 50)
    if expected_drop:  # the dropped ones are the lowest scores = largest BCE
        assert pos[~keep].max() < pos[keep].min()


def test_tce_forward_averages_kept_positives_plus_all_negatives_and_blocks_dropped_gradients():
    loss = build_loss({"name": "tce", "max_drop_rate": 0.5, "num_gradual": 1}, DATA)
    pos = torch.tensor([2.0, -1.0, 0.5, -3.0], requires_grad=True)
    neg = torch.tensor([[0.1], [0.2], [-0.4], [1.0]])
    value = loss(pos, neg, step=Step(1, 5))
    kept = [2.0, 0.5]  # -1 and -3 have the two largest BCE losses
    hand = sum(math.log(1 + math.exp(-p)) for p in kept) / 2 + sum(math.log(1 + math.exp(n)) for n in
                                                                     [0.1, 0.2, -0.4, 1.0]) / 4
    assert value.item() == pytest.approx(hand, rel=1e-6)
    value.backward()
    assert pos.grad[1] == 0 and pos.grad[3] == 0 and pos.grad[0] != 0


# ---------------------------------------------------------------- R-CE
def test_rce_weights_terms_by_detached_confidence_power_beta():
    beta = 0.7
    loss = build_loss({"name": "rce", "beta": beta}, DATA)
    pos = torch.tensor([1.5, -0.5], requires_grad=True)
    neg = torch.tensor([[0.3, -2.0], [1.0, 0.0]])
    out = loss.per_example(pos, neg)
    for b in range(2):
        p = pos[b].item()
        hand = sig(p) ** beta * math.log(1 + math.exp(-p)) + sum(
            (1 - sig(n)) ** beta * math.log(1 + math.exp(n)) for n in neg[b].tolist()) / 2
        assert out[b].item() == pytest.approx(hand, rel=1e-6)
    out.sum().backward()  # the weight is a constant: d/ds = -w * (1 - sigmoid(s))
    for b in range(2):
        p = pos[b].item()
        assert pos.grad[b].item() == pytest.approx(-(sig(p) ** beta) * (1 - sig(p)), rel=1e-5)
    plain = build_loss({"name": "rce", "beta": 0.0}, DATA).per_example(pos.detach(), neg)
    assert torch.allclose(plain, torch.nn.functional.softplus(-pos.detach())
                          + torch.nn.functional.softplus(neg).mean(1))


def test_rce_can_leave_negatives_unweighted():
    loss = build_loss({"name": "rce", "beta": 2.0, "reweight_negatives": False}, DATA)
    w_pos, w_neg = loss.weights(torch.tensor([0.0]), torch.tensor([[3.0]]))
    assert w_pos.item() == pytest.approx(0.25) and w_neg.item() == 1.0


# ---------------------------------------------------------------- NBPO
def test_nbpo_matches_the_flip_likelihood_by_hand():
    fp, fn = 0.1, 0.2
    loss = build_loss({"name": "nbpo", "init_false_positive": fp, "init_false_negative": fn}, DATA)
    eps_fp, eps_fn = (t.item() for t in loss.flip_rates())
    assert (eps_fp, eps_fn) == (pytest.approx(fp), pytest.approx(fn))
    pos = torch.tensor([0.8, -1.2])
    neg = torch.tensor([[-0.5, 2.0], [0.0, -3.0]])
    out = loss.per_example(pos, neg)
    for b in range(2):
        r = sig(pos[b].item())
        p_obs1 = r * (1 - fn) + (1 - r) * fp
        p_obs0 = [sig(n) * fn + (1 - sig(n)) * (1 - fp) for n in neg[b].tolist()]
        hand = -math.log(p_obs1) - sum(math.log(q) for q in p_obs0) / 2
        assert out[b].item() == pytest.approx(hand, rel=1e-5)


def test_nbpo_flip_rates_get_gradients_and_the_trainer_optimiser_updates_them():
    loss = build_loss({"name": "nbpo"}, DATA)
    model = build_model({"name": "mf", "embedding_dim": 4, "sparse": True}, DATA)
    users, items, negs = torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([[5], [6]])
    value = loss(scorer_for(model)(users, items), scorer_for(model)(users, negs))
    value.backward()
    assert loss.theta_fp.grad is not None and loss.theta_fp.grad.abs() > 0
    assert loss.theta_fn.grad is not None and loss.theta_fn.grad.abs() > 0
    opt = build_optimizer(model, "adam", 0.1, extra=[loss])
    before = (loss.theta_fp.item(), loss.theta_fn.item())
    opt.step()
    assert loss.theta_fp.item() != before[0] and loss.theta_fn.item() != before[1]
    frozen = build_loss({"name": "nbpo", "learn_false_positive": False}, DATA)
    assert not frozen.theta_fp.requires_grad and frozen.theta_fn.requires_grad


def test_nbpo_rejects_an_initial_rate_above_its_bound():
    from recsys_neg.errors import ConfigError

    with pytest.raises(ConfigError, match="max_flip"):
        build_loss({"name": "nbpo", "init_false_positive": 0.3, "max_flip": 0.2}, DATA)


# ---------------------------------------------------------------- separation AUC
def test_global_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    loss = rng.integers(0, 6, 300).astype(float)  # many ties
    noisy = rng.random(300) < 0.3
    assert auc_global(loss, noisy) == pytest.approx(roc_auc_score(noisy, loss))


def test_per_user_auc_equals_brute_force_mean_over_users_with_both_kinds():
    rng = np.random.default_rng(1)
    users = rng.integers(0, 12, 200)
    loss = rng.integers(0, 4, 200).astype(float)
    noisy = rng.random(200) < 0.25
    brute = []
    for u in np.unique(users):
        lu, nu = loss[users == u], noisy[users == u]
        if nu.any() and (~nu).any():
            pairs = [(a > b) + 0.5 * (a == b) for a in lu[nu] for b in lu[~nu]]
            brute.append(np.mean(pairs))
    value, n_users = auc_per_user(users, loss, noisy)
    assert n_users == len(brute)
    assert value == pytest.approx(np.mean(brute))


def test_hook_reports_both_aucs_and_draws_the_plot(tmp_path):
    data = inject_noise(random_interactions(n_users=40, n_items=30, seed=2), NoiseConfig(ratio=0.5, seed=0))
    model = build_model({"name": "mf", "embedding_dim": 4}, data)
    bpr = build_loss({"name": "bpr"}, data)
    row = NoiseSeparationHook(data, model, bpr, tmp_path).epoch_metrics(1)
    assert 0 <= row["noise_auc_global"] <= 1 and 0 <= row["noise_auc_user"] <= 1
    assert row["noise_auc_users"] > 0
    # a model scoring injected pairs low (their loss is larger) separates perfectly
    table = torch.zeros(data.n_users, data.n_items)
    dense = torch.from_numpy(data.train.toarray()) > 0
    table[dense] = 3.0
    injected = data.extras["noise"]
    table[torch.from_numpy(injected.users), torch.from_numpy(injected.items)] = -3.0

    row = NoiseSeparationHook(data, TableModel(table), bpr, tmp_path).epoch_metrics(2)
    # not exactly 1: a reference item may itself be a (clean or injected) training item
    assert row["noise_auc_user"] > 0.95
    assert row["noise_auc_global"] > 0.95
    assert (tmp_path / "noise_separation.png").stat().st_size > 0


def test_nbpo_reports_its_flip_rates_as_diagnostics():
    data = random_interactions(n_users=30, n_items=25, seed=3)
    loss = build_loss({"name": "nbpo", "init_false_positive": 0.07, "init_false_negative": 0.02}, data)
    row = loss.diagnostics()
    assert row["flip_false_positive"] == pytest.approx(0.07) and row["flip_false_negative"] == pytest.approx(0.02)

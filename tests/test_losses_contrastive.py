"""CCL, sampled softmax and BCE against hand computation on tiny inputs."""
from __future__ import annotations

import math

import pytest
import torch

from recsys_neg.errors import ConfigError
from recsys_neg.losses import build_loss

from helpers import random_interactions

DATA = random_interactions(5, 6)
POS = torch.tensor([0.8, -0.2])
NEG = torch.tensor([[0.95, 0.1, 0.92], [0.5, 0.99, -0.3]])


def loss(name, **params):
    return build_loss({"name": name, **params}, DATA)


def test_ccl_matches_hand_computation_mean_times_weight():
    got = loss("ccl", margin=0.9, negative_weight=10).per_example(POS, NEG)
    row0 = (1 - 0.8) + 10 * ((0.95 - 0.9) + 0 + (0.92 - 0.9)) / 3
    row1 = (1 + 0.2) + 10 * (0 + (0.99 - 0.9) + 0) / 3
    assert torch.allclose(got, torch.tensor([row0, row1]), atol=1e-6)
    assert torch.isclose(loss("ccl", margin=0.9, negative_weight=10)(POS, NEG), torch.tensor((row0 + row1) / 2))


def test_ccl_without_weight_sums_negatives():
    got = loss("ccl", margin=0.5).per_example(POS, NEG)
    want = torch.tensor([0.2 + 0.45 + 0.42, 1.2 + 0.49])
    assert torch.allclose(got, want, atol=1e-6)


def test_ccl_per_negative_weights_give_weighted_mean():
    w = torch.tensor([[1.0, 1.0, 0.0], [2.0, 1.0, 1.0]])
    got = loss("ccl", margin=0.9, negative_weight=10).per_example(POS, NEG, weight=w)
    row0 = 0.2 + 10 * (0.05 * 1 + 0 + 0.02 * 0) / 2
    row1 = 1.2 + 10 * (0 + 0.09 * 1 + 0) / 4
    assert torch.allclose(got, torch.tensor([row0, row1]), atol=1e-6)
    # zero weight on the only active negative of row 0's third slot changed the loss
    assert not torch.allclose(got, loss("ccl", margin=0.9, negative_weight=10).per_example(POS, NEG))


def hand_softmax(pos, negs, t=1.0, log_q=None, w=None):
    terms = [math.exp(pos / t)]
    for j, s in enumerate(negs):
        logit = s / t - (log_q[j] if log_q is not None else 0.0)
        terms.append((w[j] if w is not None else 1.0) * math.exp(logit))
    return -math.log(terms[0] / sum(terms))


def test_softmax_matches_hand_computation_with_temperature():
    got = loss("softmax", temperature=0.5).per_example(POS, NEG)
    want = [hand_softmax(POS[i].item(), NEG[i].tolist(), 0.5) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)


def test_softmax_logq_correction_subtracts_log_q_from_negative_logits():
    log_q = torch.log(torch.tensor([[0.5, 0.1, 0.01], [0.2, 0.2, 0.6]]))
    corrected = loss("softmax", temperature=0.5).per_example(POS, NEG, log_q=log_q)
    want = [hand_softmax(POS[i].item(), NEG[i].tolist(), 0.5, log_q[i].tolist()) for i in range(2)]
    assert torch.allclose(corrected, torch.tensor(want), atol=1e-5)
    plain = loss("softmax", temperature=0.5).per_example(POS, NEG)
    assert (corrected - plain).abs().min() > 1e-3
    # switched off, log_q is ignored
    off = loss("softmax", temperature=0.5, logq_correction=False).per_example(POS, NEG, log_q=log_q)
    assert torch.allclose(off, plain)


def test_softmax_weights_scale_partition_terms():
    w = torch.tensor([[1.0, 0.0, 2.0], [0.5, 1.0, 1.0]])
    got = loss("softmax").per_example(POS, NEG, weight=w)
    want = [hand_softmax(POS[i].item(), NEG[i].tolist(), w=w[i].tolist()) for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)
    ones = loss("softmax").per_example(POS, NEG, weight=torch.ones_like(NEG))
    assert torch.allclose(ones, loss("softmax").per_example(POS, NEG), atol=1e-6)


def test_bce_matches_hand_computation_and_weights():
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    got = loss("bce").per_example(POS, NEG)
    want = [-math.log(sig(POS[i].item())) - sum(math.log(1 - sig(s)) for s in NEG[i].tolist()) / 3
            for i in range(2)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)
    w = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    gotw = loss("bce", negative_weight=3.0).per_example(POS, NEG, weight=w)
    wantw = [-math.log(sig(POS[0].item())) - 3 * (math.log(1 - sig(0.1)) + math.log(1 - sig(0.92))) / 2,
             -math.log(sig(POS[1].item())) - 3 * math.log(1 - sig(0.5))]
    assert torch.allclose(gotw, torch.tensor(wantw), atol=1e-5)


@pytest.mark.parametrize("name", ["ccl", "softmax", "bce"])
def test_shared_negatives_equal_repeated_per_row(name):
    torch.manual_seed(0)
    pos, shared = torch.randn(4), torch.randn(1, 7)
    fn = loss(name) if name != "ccl" else loss(name, negative_weight=5)
    scores = shared.expand(4, -1)  # the same scores as from a [1,K] negative set
    assert torch.allclose(fn(pos, scores), fn(pos, shared.repeat(4, 1).clone()))
    lq = torch.randn(1, 7)
    assert torch.allclose(fn(pos, scores, log_q=lq), fn(pos, shared.repeat(4, 1), log_q=lq.repeat(4, 1)))


@pytest.mark.parametrize("field,values", [("margin", {"margin": 2}), ("negative_weight", {"negative_weight": 0}),
                                          ("temperature", {"temperature": 0})])
def test_bad_parameters_name_the_field(field, values):
    name = "softmax" if field == "temperature" else "ccl"
    with pytest.raises(ConfigError, match=field):
        build_loss({"name": name, **values}, DATA)

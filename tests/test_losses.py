import math

import torch

from recsys_neg.losses import build_loss

from helpers import random_interactions


def test_bpr_matches_hand_computation():
    data = random_interactions(5, 5)
    loss = build_loss({"name": "bpr"}, data)
    pos = torch.tensor([2.0, 0.0])
    neg = torch.tensor([[1.0, 3.0], [0.0, -1.0]])
    expected = [(-math.log(1 / (1 + math.exp(-1))) - math.log(1 / (1 + math.exp(1)))) / 2,
                (math.log(2) - math.log(1 / (1 + math.exp(-1)))) / 2]
    assert torch.allclose(loss.per_example(pos, neg), torch.tensor(expected), atol=1e-6)
    assert math.isclose(loss(pos, neg).item(), sum(expected) / 2, rel_tol=1e-6)


def test_bpr_weights_reweight_negatives():
    data = random_interactions(5, 5)
    loss = build_loss({"name": "bpr"}, data)
    pos = torch.tensor([0.0])
    neg = torch.tensor([[1.0, -5.0]])
    only_first = loss.per_example(pos, neg, weight=torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(only_first, torch.nn.functional.softplus(torch.tensor([1.0])), atol=1e-6)

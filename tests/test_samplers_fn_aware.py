import pytest
import torch

from recsys_neg.errors import ConfigError
from recsys_neg.models import build_model
from recsys_neg.samplers import build_sampler
from recsys_neg.samplers.fn_aware import FNAwareParams, false_negative_weights

from helpers import make_step, random_interactions, scorer_for


@pytest.fixture(scope="module")
def data():
    return random_interactions(40, 50, density=0.2, seed=11, with_splits=False)


@pytest.fixture(scope="module")
def mf(data):
    torch.manual_seed(1)
    return build_model({"name": "mf", "embedding_dim": 8, "sparse": False, "init_std": 1.0}, data).eval()


@pytest.mark.parametrize("weighting", ["sigmoid", "softmax"])
def test_weights_decrease_with_score(weighting):
    scores = torch.linspace(-4, 4, 9).unsqueeze(0)
    w = false_negative_weights(scores, None, FNAwareParams(weighting=weighting, tau=0.5, temperature=0.7))
    assert (w[0, 1:] < w[0, :-1]).all()


def test_sigmoid_weights_by_hand():
    scores = torch.tensor([[-1.0, 0.0, 2.0]])
    w = false_negative_weights(scores, None, FNAwareParams(tau=0.5, temperature=2.0))
    import math
    expected = [1 / (1 + math.exp((s - 0.5) / 2.0)) for s in (-1.0, 0.0, 2.0)]
    assert torch.allclose(w, torch.tensor([expected]))
    rel = false_negative_weights(scores, torch.tensor([2.0]), FNAwareParams(relative=True, margin=0.0))
    assert rel[0, 2].item() == pytest.approx(0.5)


def test_softmax_weights_have_mean_one():
    w = false_negative_weights(torch.randn(5, 7), None, FNAwareParams(weighting="softmax"))
    assert torch.allclose(w.mean(1), torch.ones(5))


def test_wrapper_weights_the_base_sampler_draws(data, mf):
    s = build_sampler({"name": "fn_aware", "base": {"name": "popularity", "alpha": 1.0}, "tau": 0.2,
                                   "temperature": 0.5}, data, "cpu")
    users, pos = data.train_pairs
    neg = s.sample(users, pos, 4, make_step(0), scorer_for(mf))
    assert neg.log_q is not None  # the base's proposal passes through
    with torch.no_grad():
        scores = scorer_for(mf)(users, neg.items)
    assert torch.allclose(neg.weight, 1 - torch.sigmoid((scores - 0.2) / 0.5), atol=1e-6)


def test_nested_base_errors_name_their_path(data):
    with pytest.raises(ConfigError, match=r"base\.alpha"):
        build_sampler({"name": "fn_aware", "base": {"name": "popularity", "alpha": -2}}, data, "cpu")
    with pytest.raises(ConfigError, match="unknown sampler 'nope'"):
        build_sampler({"name": "fn_aware", "base": {"name": "nope"}}, data, "cpu")

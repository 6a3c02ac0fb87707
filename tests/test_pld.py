"""PLD positive resampling: candidates from the user's items, softmax(-loss/tau) choice, noise avoidance."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import chisquare

from recsys_neg.data.interactions import Interactions
from recsys_neg.losses import build_loss
from recsys_neg.positives import build_positive_selector
from recsys_neg.samplers import build_sampler

from helpers import TableModel, make_step, scorer_for


def _data(rows: list[list[int]], n_items: int) -> Interactions:
    u = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    i = np.concatenate(rows)
    train = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(rows), n_items))
    return Interactions(train, None, None, np.arange(len(rows)), np.arange(n_items))


def _pld(data, params, loss="bpr", **loss_params):
    """PLD wired as the pipeline wires it: with the run's loss and sampler."""
    return build_positive_selector({"name": "pld", **params}, data, "cpu",
                                   loss=build_loss({"name": loss, **loss_params}, data),
                                   sampler=build_sampler({"name": "uniform"}, data, "cpu"))


def _step(table, epoch=10, seed=0):
    """(step, scorer): the step's generator and scores from the fixed table S[user, item]."""
    return make_step(seed, epoch), scorer_for(TableModel(table))


def test_candidates_are_uniform_over_the_users_training_items():
    data = _data([[1, 4, 6, 9]], 12)
    pld = _pld(data, {"k": 5})
    n = 20000
    users, pos = torch.zeros(n, dtype=torch.long), torch.full((n,), 4)
    cand = pld.draw_candidates(users, pos, torch.Generator().manual_seed(0))
    assert cand.shape == (n, 5) and (cand[:, 0] == 4).all()
    counts = np.bincount(cand[:, 1:].reshape(-1).numpy(), minlength=12)
    assert counts[[0, 2, 3, 5, 7, 8, 10, 11]].sum() == 0
    assert chisquare(counts[[1, 4, 6, 9]]).pvalue > 1e-3


@pytest.mark.parametrize("loss", ["bpr", "tce"])
def test_resampling_follows_softmax_of_minus_loss_over_tau(loss):
    # fixed model, fixed candidates: the choice frequencies must match softmax(-loss/tau)
    data = _data([[0, 1, 2, 3]], 8)
    table = torch.tensor([[2.0, 1.6, 1.3, 1.8, 0.0, 0.0, 0.0, 0.0]])
    tau = 0.5
    pld = _pld(data, {"k": 4, "tau": tau}, loss)
    step, scorer = _step(table)
    n = 40000
    users = torch.zeros(n, dtype=torch.long)
    cand = torch.tensor([0, 1, 2, 3]).repeat(n, 1)
    losses = pld.candidate_losses(users, cand, step, scorer)
    # the negatives (items 4-7) score 0: BPR gives softplus(-s); T-CE's BCE adds softplus(0) = log 2
    expected = torch.nn.functional.softplus(-table[0, :4]) + (np.log(2) if loss == "tce" else 0.0)
    assert torch.allclose(losses, expected.expand(n, -1), atol=1e-5)
    picks = pld.resample(cand, losses, torch.Generator().manual_seed(1))
    probs = torch.softmax(-losses[0].double() / tau, 0).numpy()
    probs = probs / probs.sum()
    counts = np.bincount(picks.numpy(), minlength=4)
    assert chisquare(counts, probs * n).pvalue > 1e-3


def test_a_model_that_separates_noise_makes_pld_avoid_noisy_items():
    # each user: 6 clean items scored high, 4 noisy items scored low
    rng = np.random.default_rng(0)
    n_users, n_items = 50, 60
    rows, noisy = [], set()
    table = torch.full((n_users, n_items), -4.0)
    for u in range(n_users):
        items = rng.choice(n_items, 10, replace=False)
        rows.append(sorted(items.tolist()))
        table[u, items[:6]] = 4.0
        table[u, items[6:]] = -6.0  # below every unobserved item: a large BPR loss
        noisy |= {(u, int(i)) for i in items[6:]}
    data = _data(rows, n_items)
    pld = _pld(data, {"k": 5, "tau": 0.1, "start_epoch": 1})
    step, scorer = _step(table)
    users, items = data.train_pairs
    users, items = users.repeat(20), items.repeat(20)
    chosen = pld.select(users, items, step, scorer)
    is_noisy = np.array([(int(u), int(i)) in noisy for u, i in zip(users, chosen)])
    before = np.array([(int(u), int(i)) in noisy for u, i in zip(users, items)])
    assert before.mean() == pytest.approx(0.4)
    # a noisy pick needs all 5 candidates noisy (~0.4 * 0.4^4 = 1%) or a softmax slip (< e^-60)
    assert is_noisy.mean() < 0.03
    # and every choice is one of the user's own training items
    assert all(int(i) in set(rows[int(u)]) for u, i in zip(users[:500], chosen[:500]))


def test_positives_pass_through_before_the_start_epoch():
    data = _data([[0, 1, 2]], 5)
    pld = _pld(data, {"start_epoch": 3})
    pos = torch.tensor([2, 1, 0])
    out = pld.select(torch.zeros(3, dtype=torch.long), pos, *_step(torch.zeros(1, 5), epoch=2))
    assert torch.equal(out, pos)

"""The ALS model is implicit's ALS, one sweep per epoch: equal to implicit's own multi-iteration fit."""
import numpy as np
import torch
from implicit.cpu.als import AlternatingLeastSquares

from recsys_neg.config import config_from_dict
from recsys_neg.models import build_model
from recsys_neg.pipeline import run_pipeline

from helpers import make_step, random_interactions


def test_sweeps_continue_to_implicits_own_fit():
    data = random_interactions(60, 45, density=0.2, seed=4)
    model = build_model({"name": "als", "factors": 8, "alpha": 10.0, "regularization": 0.05, "seed": 3}, data)
    for epoch in (1, 2, 3):
        model.fit_epoch(make_step(0, epoch))
    ref = AlternatingLeastSquares(factors=8, regularization=0.05, alpha=10.0, iterations=3, random_state=3,
                                  num_threads=1)
    ref.fit(data.train.astype(np.float32), show_progress=False)
    np.testing.assert_allclose(model.user_factors.numpy(), ref.user_factors, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.item_factors.numpy(), ref.item_factors, rtol=1e-4, atol=1e-5)
    with model.ranking() as rank:
        assert torch.allclose(rank(torch.arange(5)), torch.from_numpy(ref.user_factors[:5] @ ref.item_factors.T),
                              atol=1e-4)


def test_als_trains_in_a_pipeline_and_beats_popularity(tmp_path):
    def run(model):
        return run_pipeline(config_from_dict({
            "data": {"source": {"source": "synthetic", "n_users": 300, "n_items": 200, "seed": 1}},
            "model": model, "train": {"epochs": 6, "threads": 1, "progress": False},
            "eval": {"ks": [20]}, "tracking": {"enabled": False}, "output_dir": str(tmp_path)}))
    als = run({"name": "als", "factors": 16, "alpha": 5.0})
    pop = run({"name": "mostpop"})
    assert als.test["recall@20"] > pop.test["recall@20"] * 1.2
    assert all("train_loss" not in h and h["epoch_seconds"] > 0 for h in als.history)

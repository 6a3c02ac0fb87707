"""Every sampler plugs into the one training loop from a pipeline config, nested specs included."""
import math

import pytest

from recsys_neg.config import config_from_dict
from recsys_neg.pipeline import run_pipeline
from recsys_neg.samplers import SAMPLERS

SMALL = {"source": {"source": "synthetic", "n_users": 120, "n_items": 90, "seed": 3}}

# Cheaper settings for some; every registered sampler is trained, with its defaults where not listed.
SPECS = {
    "popularity": {"name": "popularity", "alpha": 0.75},
    "in_batch": {"name": "in_batch"},
    "dns": {"name": "dns", "candidates": 4},
    "simans": {"name": "simans", "candidates": 8},
    "mixed": {"name": "mixed", "parts": [{"name": "dns", "candidates": 4, "fraction": 0.5},
                                         {"name": "uniform", "fraction": 0.5}]},
    "als_static": {"name": "als_static", "top_k": 10, "factors": 4, "iterations": 2, "refresh_every": 1,
                   "refresh_with": "model"},
    "fn_aware": {"name": "fn_aware", "base": {"name": "popularity"}},
}


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_sampler_trains_in_a_pipeline(tmp_path, name):
    spec = SPECS.get(name, {"name": name})
    count = SAMPLERS.params_class(name).model_fields.get("num_negatives")
    if count is not None and count.default is not None:  # unset by default: the batch decides (in_batch, xbm)
        spec = {**spec, "num_negatives": 3}
    cfg = config_from_dict({
        "data": SMALL, "model": {"name": "mf", "embedding_dim": 8}, "sampler": spec,
        "train": {"epochs": 2, "batch_size": 256, "lr": 0.01, "progress": False},
        "eval": {"ks": [10, 20]}, "tracking": {"enabled": False}, "output_dir": str(tmp_path / "runs"),
    })
    res = run_pipeline(cfg)
    assert len(res.history) == 2
    assert all(math.isfinite(h["train_loss"]) for h in res.history)
    assert 0 <= res.test["recall@10"] <= 1

"""Learning-rate schedules: the rate against the formula by hand, and in a real run."""
from __future__ import annotations

import math

import pytest
import yaml

from recsys_neg.config import load_config
from recsys_neg.errors import ConfigError
from recsys_neg.lr_schedule import LRSchedule, lr_factor
from recsys_neg.pipeline import make_tracker, run_pipeline


def test_cosine_linear_and_warmup_follow_the_formula():
    cos = LRSchedule(name="cosine", horizon_epochs=4, final_fraction=0.1)
    spe = 10  # steps per epoch
    assert lr_factor(cos, 1, spe) == 1.0
    # step 21 starts epoch 3: two of four epochs done, half-way down the cosine
    assert lr_factor(cos, 21, spe) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(cos, 11, spe) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(cos, 41, spe) == pytest.approx(0.1)
    assert lr_factor(cos, 500, spe) == pytest.approx(0.1)  # held after the horizon
    lin = LRSchedule(name="linear", horizon_epochs=2)
    assert lr_factor(lin, 11, spe) == pytest.approx(0.5)
    assert lr_factor(lin, 16, spe) == pytest.approx(0.25)
    warm = LRSchedule(name="cosine", horizon_epochs=4, warmup_epochs=1)
    assert lr_factor(warm, 1, spe) == pytest.approx(0.1)
    assert lr_factor(warm, 10, spe) == pytest.approx(1.0)
    assert lr_factor(None, 7, spe) == 1.0
    assert lr_factor(LRSchedule(name="constant", horizon_epochs=1), 99, spe) == 1.0


def _pipeline(tmp_path, epochs, schedule):
    raw = {"name": "scheduled",
           "data": {"source": {"source": "synthetic", "n_users": 300, "n_items": 200, "seed": 3}},
           "model": {"name": "mf", "embedding_dim": 8},
           "sampler": {"name": "uniform", "num_negatives": 1},
           "train": {"epochs": epochs, "batch_size": 64, "lr": 0.02, "threads": 1, "seed": 5,
                     "early_stopping": None, "lr_schedule": schedule},
           "eval": {"ks": [20]},
           "tracking": {"enabled": False},
           "output_dir": str(tmp_path / "runs")}
    path = tmp_path / f"p{epochs}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_a_run_follows_the_schedule_and_a_shorter_run_is_its_prefix(tmp_path):
    """The horizon is pinned in the schedule, so a run of fewer epochs (the final run of a
    time-to-quality comparison) sees exactly the rates of the longer run's first epochs."""
    schedule = {"name": "cosine", "horizon_epochs": 3, "final_fraction": 0.2}
    long = run_pipeline(cfg := _pipeline(tmp_path, 4, schedule), tracker=make_tracker(cfg),
                        out_dir=tmp_path / "long")
    n = round(long.history[0]["positives_per_s"] * long.history[0]["epoch_seconds"])
    spe = math.ceil(n / 64)
    for h in long.history:  # the rate of the epoch's last step
        assert h["lr"] == pytest.approx(0.02 * lr_factor(LRSchedule(**schedule), h["epoch"] * spe, spe))
    assert long.history[-1]["lr"] == pytest.approx(0.02 * 0.2)
    assert long.history[0]["lr"] > long.history[1]["lr"] > long.history[2]["lr"]
    short = run_pipeline(cfg := _pipeline(tmp_path, 2, schedule), tracker=make_tracker(cfg),
                         out_dir=tmp_path / "short")
    assert [h["train_loss"] for h in short.history] == [h["train_loss"] for h in long.history[:2]]
    flat = run_pipeline(cfg := _pipeline(tmp_path, 2, None), tracker=make_tracker(cfg), out_dir=tmp_path / "flat")
    assert flat.history[1]["train_loss"] != short.history[1]["train_loss"]  # the schedule changed training
    assert "lr" not in flat.history[0]


def test_a_bad_schedule_is_refused_before_training(tmp_path):
    with pytest.raises(ConfigError, match="lr_schedule"):
        _pipeline(tmp_path, 2, {"name": "cosine", "horizon_epochs": 0})
    with pytest.raises(ConfigError, match="horizon_epochs"):
        _pipeline(tmp_path, 2, {"name": "cosine"})


def test_the_data_parallel_optimiser_passes_the_rate_to_every_inner_optimiser():
    import torch

    from recsys_neg.distributed.gradients import ReducingOptimizer
    from recsys_neg.training.optim import OptimizerGroup

    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    group = OptimizerGroup([torch.optim.Adam([a], lr=1e-3), torch.optim.SGD([b], lr=1e-3)])
    wrapped = ReducingOptimizer(group, reducer=None, weight=lambda: 1.0)
    wrapped.set_lr(2.5e-4)
    assert wrapped.lr == 2.5e-4
    assert [g["lr"] for o in group.optimizers for g in o.param_groups] == [2.5e-4, 2.5e-4]

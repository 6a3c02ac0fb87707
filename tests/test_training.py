import json

import pytest
import torch

from recsys_neg.config import config_from_dict
from recsys_neg.errors import ConfigError, TrainingError
from recsys_neg.pipeline import run_pipeline
from recsys_neg.runs.saved import evaluate_saved
from recsys_neg.training.checkpoint import load_checkpoint, save_atomic

SMALL = {"source": {"source": "synthetic", "n_users": 300, "n_items": 200, "seed": 1}}


def small_cfg(tmp_path, **train):
    return config_from_dict({
        "data": SMALL, "model": {"name": "mf", "embedding_dim": 16},
        "train": {"epochs": 4, "batch_size": 256, "lr": 0.01, "progress": False, **train},
        "eval": {"ks": [5, 20]}, "tracking": {"enabled": False}, "output_dir": str(tmp_path / "runs"),
    })


def test_mf_bpr_learns_better_than_popularity(tmp_path):
    mf = run_pipeline(small_cfg(tmp_path, epochs=15))
    pop_cfg = small_cfg(tmp_path).model_copy(update={"model": config_from_dict(
        {"model": {"name": "mostpop"}}).model})
    pop = run_pipeline(pop_cfg)
    assert mf.test["recall@20"] > pop.test["recall@20"] * 1.1
    losses = [h["train_loss"] for h in mf.history]
    assert losses[-1] < losses[0]


def test_run_writes_config_metrics_and_checkpoint(tmp_path):
    res = run_pipeline(small_cfg(tmp_path))
    metrics = json.loads((res.out_dir / "metrics.json").read_text())
    config = json.loads((res.out_dir / "config.json").read_text())
    assert set(metrics["test"]) >= {"recall@20", "ndcg@5", "map@20"}
    assert config["model"]["embedding_dim"] == 16 and config["sampler"]["exclude_positives"] is True
    ckpt = load_checkpoint(res.out_dir / "best.ckpt")
    assert ckpt["epoch"] == res.best_epoch
    again = evaluate_saved(res.out_dir, ("test",))
    assert again["test"]["metrics"]["recall@20"] == pytest.approx(res.test["recall@20"], abs=1e-6)


def test_early_stopping_reads_validation_not_test(tmp_path):
    res = run_pipeline(small_cfg(tmp_path, epochs=50, lr=0.2,
                                 early_stopping={"metric": "ndcg@20", "patience": 2}))
    assert res.stopped == "early_stopping"
    assert len(res.history) < 50
    assert all("valid_ndcg@20" in h for h in res.history)
    assert not any(k.startswith("test") for h in res.history for k in h)


def test_seed_makes_runs_reproducible(tmp_path):
    a = run_pipeline(small_cfg(tmp_path, epochs=2))
    b = run_pipeline(small_cfg(tmp_path, epochs=2))
    assert a.test == b.test


def test_lightgcn_trains_end_to_end(tmp_path):
    cfg = small_cfg(tmp_path, epochs=2)
    cfg = cfg.model_copy(update={"model": config_from_dict({"model": {"name": "lightgcn", "embedding_dim": 8}}).model})
    res = run_pipeline(cfg)
    assert res.test["recall@20"] > 0


def test_k_larger_than_catalogue_fails_before_training(tmp_path):
    cfg = config_from_dict({"data": SMALL, "eval": {"ks": [500]}, "train": {"early_stopping": None},
                            "tracking": {"enabled": False}, "output_dir": str(tmp_path / "runs")})
    with pytest.raises(ConfigError, match="K=500 is larger than the number of items"):
        run_pipeline(cfg)
    assert not (tmp_path / "runs").exists()


def test_unknown_early_stopping_metric_fails_at_load(tmp_path):
    with pytest.raises(ConfigError, match="early_stopping.metric: recall@7 is not computed"):
        small_cfg(tmp_path, early_stopping={"metric": "recall@7"})


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from recsys_neg.losses.bpr import BPRLoss

    original = BPRLoss.forward

    def poisoned(self, pos, neg, weight=None, log_q=None, step=None):
        out = original(self, pos, neg, weight, log_q, step)
        return out * float("nan") if step.epoch >= 2 else out

    monkeypatch.setattr(BPRLoss, "forward", poisoned)
    cfg = small_cfg(tmp_path)
    with pytest.raises(TrainingError, match="nan.*epoch 2.*last good checkpoint"):
        run_pipeline(cfg)
    run_dir = next((tmp_path / "runs").iterdir())
    ckpt = load_checkpoint(run_dir / "best.ckpt")
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model_state"].values())


def test_atomic_save_leaves_old_checkpoint_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "best.ckpt"
    save_atomic({"epoch": 1}, path)

    def boom(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_atomic({"epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["best.ckpt"]

"""Resumable runs: SIGKILL mid-epoch, ``train --resume``, and the same result as never stopping.

Equality is exact: on CPU with one thread every operation of a step is
deterministic, and the resumed run restores every random stream, the
optimiser's moments, the early-stopping state and the epoch's shuffle.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from recsys_neg.config import load_config
from recsys_neg.errors import ConfigError
from recsys_neg.pipeline import make_tracker, run_pipeline
from recsys_neg.runs.saved import resume_point
from recsys_neg.training.checkpoint import load_checkpoint

EPOCHS = 5


def write_pipeline(tmp_path: Path, **train) -> Path:
    raw = {
        "name": "resumable",
        "data": {"source": {"source": "synthetic", "n_users": 400, "n_items": 300, "seed": 4}},
        "model": {"name": "mf", "embedding_dim": 16},
        "sampler": {"name": "dns", "candidates": 4, "num_negatives": 2},  # draws and scores: every stream used
        "train": {"epochs": EPOCHS, "batch_size": 32, "lr": 0.01, "threads": 1, "seed": 7,
                  "early_stopping": {"metric": "recall@20", "patience": 3}, **train},
        "eval": {"ks": [20]},
        "tracking": {"experiment": "resume", "plots": False, "log_checkpoint": False},
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def cli(*args, tmp_path: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}"}
    return subprocess.Popen([sys.executable, "-m", "recsys_neg", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def kill_during_epoch(proc: subprocess.Popen, epoch: int, runs: Path, mid_epoch_state: bool) -> None:
    """Read the run's per-epoch lines (stdout is a pipe: one line per epoch) and SIGKILL inside ``epoch``;
    with ``mid_epoch_state``, only once last.ckpt holds a position inside that epoch."""
    for line in proc.stdout:
        if line.startswith(f"epoch {epoch - 1}/"):
            time.sleep(0.3)  # inside the next epoch (each takes a few seconds)
            deadline = time.monotonic() + 60
            while mid_epoch_state and time.monotonic() < deadline:
                state = load_checkpoint(next(runs.glob("*/last.ckpt")))  # replaced atomically: safe to read
                if state["in_epoch"] is not None:
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return
    raise AssertionError("the run ended before it could be killed")


@pytest.mark.parametrize("every_steps", [None, 25], ids=["from-epoch-end", "from-mid-epoch"])
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, every_steps):
    # the mid-epoch case also decays the rate: it must follow the restored step, not restart
    schedule = {"name": "cosine", "horizon_epochs": EPOCHS, "final_fraction": 0.1} if every_steps else None
    path = write_pipeline(tmp_path, checkpoint_every_steps=every_steps, lr_schedule=schedule)
    cfg = load_config(path)
    reference = run_pipeline(cfg, tracker=make_tracker(cfg, f"sqlite:///{tmp_path / 'ref.db'}"),
                             out_dir=tmp_path / "reference")

    proc = cli("train", str(path), tmp_path=tmp_path)
    kill_during_epoch(proc, 3, tmp_path / "runs", every_steps is not None)
    assert proc.returncode == -signal.SIGKILL
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "last.ckpt").exists() and not (run_dir / "metrics.json").exists()

    done = cli("train", "--resume", str(run_dir), tmp_path=tmp_path)
    output = done.communicate(timeout=300)[0]
    assert done.returncode == 0, output
    assert f"resuming {run_dir} from last.ckpt" in output
    assert ("positives of epoch" in output) == (every_steps is not None), output  # really from inside an epoch
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["test"] == reference.test  # exact, not approximately
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, len(reference.history) + 1))
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in reference.history]
    assert [h.get("lr") for h in resumed["history"]] == [h.get("lr") for h in reference.history]

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    run = client.get_run(resumed["run_id"])
    assert run.info.status == "FINISHED"
    exp = client.get_experiment_by_name("resume").experiment_id
    assert len(client.search_runs([exp])) == 1  # the same run continued, not a new one
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == list(range(1, len(reference.history) + 1))  # no epoch missing or doubled


def test_resume_refuses_a_changed_config_a_finished_run_and_a_run_without_state(tmp_path):
    path = write_pipeline(tmp_path, epochs=2)
    cfg = load_config(path)
    res = run_pipeline(cfg, tracker=make_tracker(cfg, f"sqlite:///{tmp_path / 'm.db'}"))
    with pytest.raises(ConfigError, match="finished already"):
        resume_point(res.out_dir)
    (res.out_dir / "metrics.json").unlink()  # as if killed after its last epoch
    with pytest.raises(ConfigError, match=r"train\.lr: 0\.01 in the run, 0\.5 now"):
        resume_point(res.out_dir, path, ["train.lr=0.5"])
    assert resume_point(res.out_dir, path, ["train.progress=false"]).state["epoch"] == 2  # operational
    (res.out_dir / "last.ckpt").unlink()
    with pytest.raises(ConfigError, match="no last.ckpt"):
        resume_point(res.out_dir)

"""Tuning across processes: two invocations started together share one parent run and one true best;
a trial whose worker is killed is marked FAIL and re-run with the same parameters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import yaml
from mlflow.tracking import MlflowClient
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from recsys_neg.config import load_config

optuna.logging.set_verbosity(optuna.logging.WARNING)


def pipeline(tmp_path, epochs=2, **tuning):
    raw = {
        "name": "shared",
        "data": {"source": {"source": "synthetic", "n_users": 100, "n_items": 80, "seed": 2}},
        "model": {"name": "mf", "embedding_dim": 8},
        "train": {"epochs": epochs, "batch_size": 64, "lr": 0.01, "threads": 1, "early_stopping": None},
        "eval": {"ks": [20], "metrics": ["recall"]},
        "tracking": {"experiment": "shared", "plots": False, "log_checkpoint": False},
        "output_dir": str(tmp_path / "runs"),
        "tuning": {"pruner": "none", "sampler": "random", "seed": 0,
                   "space": {"train.lr": {"type": "float", "low": 1.0e-4, "high": 0.05, "log": True}},
                   **tuning},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def tune(tmp_path, path, trials, seed=0):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}"}
    return subprocess.Popen([sys.executable, "-m", "recsys_neg", "tune", str(path), "--trials", str(trials),
                             "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--set", f"tuning.seed={seed}",
                             "--best-out", str(tmp_path / "best.yaml")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_invocations_started_together_share_one_parent_and_the_true_best(tmp_path):
    path = pipeline(tmp_path)
    procs = [tune(tmp_path, path, 3, seed=s) for s in (1, 2)]  # different seeds: different trials
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(study.trials) == 6 and all(t.state == TrialState.COMPLETE for t in study.trials)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.get_experiment_by_name("shared").experiment_id
    parents = client.search_runs([exp], "tags.kind = 'optuna_study'")
    assert len(parents) == 1
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    assert len(children) == 6
    assert study.user_attrs["mlflow_parent_run_id"] == parents[0].info.run_id
    best = load_config(tmp_path / "best.yaml")  # whichever process wrote last: the study's true best
    assert best.train.lr == study.best_params["train.lr"]
    assert f"validation value {study.best_value:.6g}" in (tmp_path / "best.yaml").read_text()
    logged = client.get_metric_history(parents[0].info.run_id, "best_valid_recall_at_20")
    assert max(logged, key=lambda m: m.step).value == study.best_value


def test_a_killed_workers_trial_fails_and_is_retried(tmp_path):
    path = pipeline(tmp_path, epochs=2000, heartbeat_s=1, grace_s=2)  # a trial far longer than the test waits
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    proc = tune(tmp_path, path, 2)
    deadline = time.monotonic() + 120
    running = []
    while not running and time.monotonic() < deadline:  # wait until a trial is under way
        time.sleep(0.5)
        try:
            running = optuna.load_study(study_name="shared", storage=storage).get_trials(
                deepcopy=False, states=(TrialState.RUNNING,))
        except KeyError:  # the study is not created yet
            continue
    assert running, "no trial started"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    # the trial the kill interrupted: still RUNNING in storage, its heartbeat stopped
    stale = optuna.load_study(study_name="shared", storage=storage).get_trials(
        deepcopy=False, states=(TrialState.RUNNING,))
    assert len(stale) == 1, [t.state for t in stale]
    killed = stale[0]
    time.sleep(3)  # past the grace period
    again = tune(tmp_path, pipeline(tmp_path, epochs=2, heartbeat_s=1, grace_s=2), 1)
    out = again.communicate(timeout=300)[0]
    assert again.returncode == 0, out
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)
    assert trials[killed.number].state == TrialState.FAIL
    retries = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params  # the same point of the space, run again

"""The team set-up on a real PostgreSQL server: MLflow's tracking store and Optuna's storage both on it.

Three ``recsys-neg tune`` worker processes share one study; one is killed with SIGKILL in the
middle of a trial. Nothing may be lost or duplicated: twelve finished trials, each trial number
once, one MLflow child run per trial under one parent run, and the killed trial failed and run
again with the same parameters.

Needs ``RECSYS_NEG_TEST_POSTGRES`` (a superuser URL; ``.ci/run`` starts a throwaway server and sets
it). Without it the test is skipped with the reason ``.ci/run`` gave, never silently.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import pytest
import yaml

SERVER = os.environ.get("RECSYS_NEG_TEST_POSTGRES")
WHY_NOT = os.environ.get("RECSYS_NEG_TEST_POSTGRES_SKIP", "RECSYS_NEG_TEST_POSTGRES is not set "
                         "(.ci/run starts a throwaway PostgreSQL server and sets it)")


@dataclass
class Stores:
    mlflow: str
    optuna: str


def _psycopg():
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg (the PostgreSQL driver) is not installed: pip install -e '.[test]'")
    return psycopg


@pytest.fixture
def stores():
    """Two fresh databases on the server (MLflow and Optuna both keep an alembic_version table),
    dropped afterwards."""
    if not SERVER:
        pytest.skip(f"no PostgreSQL server: {WHY_NOT}")
    psycopg = _psycopg()
    from sqlalchemy.engine import make_url

    url = make_url(SERVER)
    names = [f"recsys_neg_test_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("mlflow", "optuna")]
    conn = psycopg.connect(SERVER, autocommit=True)
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f'CREATE DATABASE "{name}"')
        yield Stores(*(url.set(database=n).render_as_string(hide_password=False) for n in names))
    finally:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def write_pipeline(tmp_path):
    raw = {
        "name": "team",
        # eight epochs, 1-4 s a trial here: long enough to be killed in the middle of one
        "data": {"source": {"source": "synthetic", "n_users": 300, "n_items": 200, "seed": 2}},
        "model": {"name": "mf", "embedding_dim": 16},
        "train": {"epochs": 8, "batch_size": 64, "lr": 0.01, "threads": 1, "early_stopping": None,
                  "progress": False},
        "eval": {"ks": [20], "metrics": ["recall"]},
        "tracking": {"experiment": "team", "plots": False, "log_checkpoint": False},
        "output_dir": str(tmp_path / "runs"),
        "tuning": {"pruner": "none", "sampler": "random", "seed": 0, "heartbeat_s": 1, "grace_s": 2,
                   "space": {"train.lr": {"type": "float", "low": 1.0e-3, "high": 0.05, "log": True}}},
    }
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def kill_a_worker_mid_trial(client, experiment: str, deadline: float) -> int:
    """SIGKILL the worker whose trial run started training a moment ago; returns that trial's number."""
    while time.monotonic() < deadline:
        time.sleep(0.05)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            continue
        now_ms = time.time() * 1000
        for run in client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'"):
            trial = run.data.tags.get("optuna.trial")
            # the run opens right before the first epoch: the trial has all its epochs left
            if trial is not None and now_ms - run.info.start_time < 300:
                os.kill(int(run.data.tags["recsys_neg.pid"]), signal.SIGKILL)
                return int(trial)
    raise AssertionError("no trial was seen starting")


def test_three_workers_twelve_trials_on_postgres_nothing_lost_or_duplicated(stores, tmp_path):
    import optuna
    from mlflow.tracking import MlflowClient
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    path = write_pipeline(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys_neg", "tune", str(path), "--trials", "12", "--workers", "3",
         "--storage", stores.optuna, "--tracking-uri", stores.mlflow, "--best-out", str(tmp_path / "best.yaml")],
        cwd=tmp_path, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        client = MlflowClient(stores.mlflow)
        killed = kill_a_worker_mid_trial(client, "team", time.monotonic() + 180)
        out = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert "was killed; a replacement runs" in out, out

    trials = optuna.load_study(study_name="team", storage=stores.optuna).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 12, [(t.number, t.state.name) for t in trials]
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # each number once, none skipped
    assert [t.number for t in trials if t.state != TrialState.COMPLETE] == [killed]
    assert trials[killed].state == TrialState.FAIL
    retries = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[killed].params

    exp = client.get_experiment_by_name("team").experiment_id
    parents = client.search_runs([exp], "tags.kind = 'optuna_study'")
    assert len(parents) == 1
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    finished = [r for r in children if r.info.status == "FINISHED"]
    assert len(finished) == 12
    assert sorted(int(r.data.tags["optuna.trial"]) for r in finished) == sorted(t.number for t in complete)
    dead = [r for r in children if r.info.status != "FINISHED"]
    assert [int(r.data.tags["optuna.trial"]) for r in dead] == [killed]
    assert dead[0].info.status == "FAILED"  # closed by the replacement worker's stale-run repair
    assert len(client.search_runs([exp])) == 1 + 13  # the parent and one run per trial, nothing else

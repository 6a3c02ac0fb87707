"""MLflow tracking: what a run records, batching, bad input, killed runs, telemetry."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from recsys_neg.cli import app
from recsys_neg.config import config_from_dict, resolved_dict
from recsys_neg.pipeline import run_pipeline
from recsys_neg.tracking.mlflow_tracker import MLflowTracker, resolve_uri

TINY = {
    "data": {"source": {"source": "synthetic", "n_users": 120, "n_items": 90, "seed": 3}},
    "model": {"name": "mf", "embedding_dim": 8},
    "train": {"epochs": 3, "batch_size": 512, "lr": 0.01, "progress": False, "early_stopping": None,
              "threads": 1},  # subprocesses too: two threads crawl on a busy 2-core machine
    "eval": {"ks": [5, 20]},
}


@pytest.fixture(scope="module")
def store_template(tmp_path_factory):
    """An initialised sqlite store: creating MLflow's tables takes seconds, copying them does not."""
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    MLflowTracker(uri, "warmup")
    return folder / "mlruns.db"


@pytest.fixture
def store(store_template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(store_template, tmp_path / "mlruns.db")
    return f"sqlite:///{tmp_path / 'mlruns.db'}"


def tiny_cfg(tmp_path, **sections):
    raw = {**TINY, "output_dir": str(tmp_path / "runs"), "tracking": {"experiment": "t"}, **sections}
    return config_from_dict(raw)


def test_run_logs_params_metrics_and_artifacts(store, tmp_path):
    cfg = tiny_cfg(tmp_path)
    res = run_pipeline(cfg, tracker=MLflowTracker(store, "t"))
    client = MlflowClient(store)
    run = client.get_run(res.run_id)
    assert run.info.status == "FINISHED"
    # every resolved field, flattened, component defaults included
    flat_expected = {"train.lr": "0.01", "model.embedding_dim": "8", "sampler.name": "uniform",
                     "sampler.exclude_positives": str(resolved_dict(cfg)["sampler"]["exclude_positives"])}
    assert flat_expected.items() <= run.data.params.items()
    for key in ("valid_recall_at_20", "train_loss", "time_sampling", "time_forward", "time_backward",
                "eval_seconds"):
        hist = client.get_metric_history(res.run_id, key)
        assert [m.step for m in hist] == [1, 2, 3], key
    recorded = [m.value for m in client.get_metric_history(res.run_id, "train_loss")]
    assert recorded == pytest.approx([h["train_loss"] for h in res.history])
    assert run.data.metrics["test_recall_at_20"] == pytest.approx(res.test["recall@20"])
    assert not any(k.startswith("test_") for h in res.history for k in h)
    tags = run.data.tags
    assert tags["sampler"] == "uniform" and tags["dataset_fingerprint"] and tags["recsys_neg.pid"]
    names = {a.path for a in client.list_artifacts(res.run_id)}
    assert {"config.json", "metrics.json", "learning_curves.png", "checkpoint"} <= names
    assert [a.path for a in client.list_artifacts(res.run_id, "checkpoint")] == ["checkpoint/best.ckpt"]
    png = Path(client.download_artifacts(res.run_id, "learning_curves.png", str(tmp_path)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_are_sent_in_batches(store, tmp_path, monkeypatch):
    tracker = MLflowTracker(store, "t")
    calls = {"batch_metrics": 0, "single": 0}
    real_batch = tracker.client.log_batch

    def counting_batch(run_id, metrics=(), **kw):
        calls["batch_metrics"] += bool(metrics)
        return real_batch(run_id, metrics=metrics, **kw)

    monkeypatch.setattr(tracker.client, "log_batch", counting_batch)
    monkeypatch.setattr(tracker.client, "log_metric", lambda *a, **k: calls.__setitem__("single", 1))
    run_pipeline(tiny_cfg(tmp_path), tracker=tracker)
    assert calls["single"] == 0
    assert calls["batch_metrics"] == 3 + 1  # one per epoch, one for the test metrics


def test_malformed_pipeline_fails_before_training_and_creates_no_run(store, tmp_path):
    bad = {**TINY, "train": {**TINY["train"], "lr": -1}, "output_dir": str(tmp_path / "runs")}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    out = CliRunner().invoke(app, ["train", str(path), "--tracking-uri", store])
    assert out.exit_code == 2
    assert "train.lr" in out.output
    client = MlflowClient(store)
    exps = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(exps) == []
    assert not (tmp_path / "runs").exists()


def test_tracking_uri_option_and_environment(store, tmp_path, monkeypatch):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    shutil.copy(Path(store[len("sqlite:///"):]), tmp_path / "other.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    assert resolve_uri(None) == other and resolve_uri(store) == store
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 1},
                                    "output_dir": str(tmp_path / "runs"), "tracking": {"experiment": "u"}}))
    assert CliRunner().invoke(app, ["train", str(path)]).exit_code == 0  # env var
    assert CliRunner().invoke(app, ["train", str(path), "--tracking-uri", store]).exit_code == 0  # option wins
    for uri in (other, store):
        client = MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("u").experiment_id])
        assert [r.info.status for r in runs] == ["FINISHED"]


def test_telemetry_is_off_after_import():
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK") and not k.startswith("PYTEST")}
    code = ("import os, recsys_neg.tracking.mlflow_tracker\n"
            "from mlflow.telemetry.utils import is_telemetry_disabled\n"
            "print(os.environ['MLFLOW_DISABLE_TELEMETRY'], is_telemetry_disabled())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["true", "True"], out.stderr


def _wait_for_training(client, exp_name, n_runs, proc_list, timeout=180):
    """Until ``n_runs`` runs of the experiment have logged at least one epoch."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in proc_list:
            assert p.poll() is None, p.stderr.read()
        exp = client.get_experiment_by_name(exp_name)
        if exp is not None:
            runs = client.search_runs([exp.experiment_id])
            if len(runs) == n_runs and all("train_loss" in r.data.metrics for r in runs):
                return {r.data.tags["recsys_neg.pid"]: r.info.run_id for r in runs}
        time.sleep(0.5)
    raise AssertionError("training did not start in time")


def test_killed_runs_leave_the_store_usable_and_marked(store, tmp_path):
    # long enough that both are still mid-training when signalled
    long = {**TINY, "train": {**TINY["train"], "epochs": 100000}, "tracking": {"experiment": "kill"},
            "output_dir": str(tmp_path / "runs")}
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(long))
    cmd = [sys.executable, "-m", "recsys_neg", "train", str(path), "--tracking-uri", store]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        client = MlflowClient(store)
        by_pid = _wait_for_training(client, "kill", 2, procs)
        term, kill = procs
        term.send_signal(signal.SIGTERM)
        kill.send_signal(signal.SIGKILL)
        assert term.wait(180) == 130, term.stderr.read()[-3000:]
        assert kill.wait(180) == -signal.SIGKILL
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    client = MlflowClient(store)  # the store opens and answers
    assert client.get_run(by_pid[str(term.pid)]).info.status == "KILLED"
    killed_hard = by_pid[str(kill.pid)]
    assert client.get_run(killed_hard).info.status == "RUNNING"  # nothing could run on SIGKILL
    out = CliRunner().invoke(app, ["runs", "repair", "--tracking-uri", store, "--experiment", "kill"])
    assert out.exit_code == 0 and killed_hard in out.output
    run = client.get_run(killed_hard)
    assert run.info.status == "FAILED" and "recsys_neg.repaired" in run.data.tags
    # the store still takes new runs
    res = run_pipeline(tiny_cfg(tmp_path, train={**TINY["train"], "epochs": 1}), tracker=MLflowTracker(store, "t"))
    assert client.get_run(res.run_id).info.status == "FINISHED"


def test_next_start_repairs_a_dead_process_run(store, tmp_path):
    tracker = MLflowTracker(store, "t")
    tracker.start("ghost", {}, {})
    client = tracker.client
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    client.set_tag(tracker.run_id, "recsys_neg.pid", str(dead.pid))  # as if that process owned it
    alive = MLflowTracker(store, "t")
    alive.start("alive", {}, {})  # our own pid: must stay RUNNING
    MLflowTracker(store, "t").start("next", {}, {})
    assert client.get_run(tracker.run_id).info.status == "FAILED"
    assert client.get_run(alive.run_id).info.status == "RUNNING"


def test_sigterm_during_a_store_write_is_raised_after_it():
    import os

    from recsys_neg.tracking.signals import (deferred_interrupt, install_sigterm_as_interrupt,
                                             restore_sigterm)

    previous = install_sigterm_as_interrupt()
    finished = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_interrupt():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler has run by now, but must not interrupt the write
                finished.append(True)
    finally:
        restore_sigterm(previous)
    assert finished == [True]

"""MLflow tracking through ``MlflowClient`` (no global active-run state).

Embedded default: a sqlite store plus a local artifact folder, no server.
Metrics are buffered by the caller and sent with one ``log_batch`` call per
epoch: a single ``log_metric`` costs ~25 ms on sqlite.

Each run is tagged with its host and process id; starting a run first marks
FAILED the RUNNING runs of this experiment whose process on this host is gone
(killed with SIGKILL), so a dead run never stays RUNNING past the next start.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..store_lock import store_init_lock
from .base import Tracker, flatten_params
from .repair import owner_tags, repair_stale_runs
from .signals import deferred_interrupt

DEFAULT_URI = "sqlite:///mlruns.db"
DEFAULT_ARTIFACTS = "mlartifacts"
_BATCH = 100  # MLflow accepts at most 100 params per log_batch call


def resolve_uri(uri: str | None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def default_artifact_location(uri: str) -> str | None:
    """For a sqlite store: ``mlartifacts/`` beside the database file (a server picks its own)."""
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return None
    db = Path(uri[len("sqlite:///"):])
    return (db.resolve().parent / DEFAULT_ARTIFACTS).as_uri()


class MLflowTracker(Tracker):
    def __init__(self, uri: str | None = None, experiment: str = "recsys_neg",
                 parent_run_id: str | None = None, repair_stale: bool = True,
                 tags: dict[str, str] | None = None):
        from mlflow.tracking import MlflowClient

        self.uri = resolve_uri(uri)
        with store_init_lock(self.uri):
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = self._experiment_id(experiment)
        self.parent_run_id = parent_run_id
        self.repair_stale = repair_stale
        self.extra_tags = dict(tags or {})
        self.run_id = None

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=default_artifact_location(self.uri))
        except MlflowException:  # another worker created it first
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    def start(self, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        from mlflow.entities import Param

        if self.repair_stale:
            repair_stale_runs(self.client, [self.experiment_id])
        tags = {**owner_tags(), **self.extra_tags, **tags}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        flat = [Param(k, v[:6000]) for k, v in flatten_params(params).items()]
        for i in range(0, len(flat), _BATCH):
            self.client.log_batch(self.run_id, params=flat[i: i + _BATCH])

    def resume(self, run_id: str) -> None:
        """Reopen ``run_id`` (RUNNING again, owned by this process) to continue logging into it."""
        from mlflow.entities import RunTag

        self.client.get_run(run_id)  # raises if it does not exist in this store
        self.run_id = run_id
        with deferred_interrupt():
            self.client.update_run(run_id, status="RUNNING")
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in {**owner_tags(),
                                                                          **self.extra_tags}.items()])

    def last_step(self, metric: str) -> int | None:
        history = self.client.get_metric_history(self.run_id, metric) if self.run_id else []
        return max((m.step for m in history), default=None)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        if not metrics or self.run_id is None:
            return
        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, step or 0) for k, v in metrics.items()]
        with deferred_interrupt():
            for i in range(0, len(batch), 1000):
                self.client.log_batch(self.run_id, metrics=batch[i: i + 1000])

    def log_artifact(self, path: str | Path, subdir: str | None = None) -> None:
        if self.run_id is not None:
            with deferred_interrupt():
                self.client.log_artifact(self.run_id, str(path), subdir)

    def set_tags(self, tags: dict[str, str]) -> None:
        if self.run_id is None:
            return
        from mlflow.entities import RunTag

        with deferred_interrupt():
            self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def end(self, status: str = "FINISHED") -> None:
        """Close the run; retried because a sqlite store may be briefly locked by another writer."""
        if self.run_id is None:
            return
        for attempt in range(5):
            try:
                self.client.set_terminated(self.run_id, status=status)
                return
            except Exception:  # noqa: BLE001 - any store error: wait and retry, then give up loudly
                if attempt == 4:
                    raise
                time.sleep(0.2 * 2 ** attempt)

"""One Optuna trial = one full pipeline run, tracked as a nested MLflow run.

The trial's values go through the same path as ``--set`` and the whole config
is validated again, so an impossible combination fails that trial with the
field at fault and the study goes on. The objective is the best validation
value over the trial's epochs; the test split never steers the search. The
objective owns its trial's MLflow run: it closes it as FINISHED, as KILLED
with ``optuna.state=PRUNED`` when pruned, or as FAILED.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from ..config import PipelineConfig, config_from_dict
from ..data import build_interactions
from ..errors import ConfigError, RecsysNegError
from ..metric_key import MetricKey
from ..pipeline import close_run, make_tracker, run_pipeline
from ..training.hooks import Hook
from .config import TuningConfig
from .space import draw, to_overrides

log = logging.getLogger(__name__)
TRIAL_OVERRIDES = ["train.progress=false", "eval.test=false"]  # trials are judged on validation only


class PruningHook(Hook):
    """Reports each validated epoch to Optuna; raises ``TrialPruned`` when told to stop."""

    def __init__(self, trial: optuna.Trial, metric: MetricKey):
        self.trial, self.key = trial, metric.of("valid")

    def epoch_end(self, epoch: int, record: dict) -> None:
        if self.key not in record:
            return  # not an evaluation epoch
        self.trial.report(float(record[self.key]), epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({self.key}={record[self.key]:.5f})")


def best_value(history: list[dict], metric: MetricKey, direction: str) -> float:
    key = metric.of("valid")
    values = [h[key] for h in history if key in h]
    if not values:
        raise RecsysNegError(f"tuning.metric: no validation value of {metric} was recorded")
    return max(values) if direction == "maximize" else min(values)


@dataclass
class Objective:
    raw: dict  # the pipeline file as read (CLI overrides already applied)
    source: str
    base_dir: Path
    study_name: str
    tuning: TuningConfig
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    worker: str = "0"
    _data_cache: dict[str, Any] = field(default_factory=dict)

    def config_for(self, trial: optuna.Trial) -> PipelineConfig:
        overrides = to_overrides(draw(trial, self.tuning.space))
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("worker", self.worker)
        return config_from_dict(self.raw, f"{self.source} (trial {trial.number})", overrides + TRIAL_OVERRIDES)

    def data_for(self, cfg: PipelineConfig):
        # trials that do not search data fields share one dataset (Gowalla takes seconds to read)
        key = cfg.data.model_dump_json()
        if key not in self._data_cache:
            self._data_cache = {key: build_interactions(cfg.data, base_dir=self.base_dir)}
        return self._data_cache[key]

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            cfg = self.config_for(trial)
            out_dir = Path(cfg.output_dir) / self.study_name / f"trial-{trial.number:04d}"
            if out_dir.exists():  # a worker re-running a number would be a bug: keep evidence
                raise ConfigError(f"{out_dir} already exists; output_dir is shared by another study?")
            cfg.tracking.run_name = f"{self.study_name}-trial-{trial.number}"
            tracker = make_tracker(cfg, self.tracking_uri, self.parent_run_id,
                                   tags={"optuna.study": self.study_name, "optuna.trial": str(trial.number)})
        except RecsysNegError as err:
            trial.set_user_attr("error", str(err))
            log.warning("trial %d failed: %s", trial.number, err)
            raise
        status, state = "FAILED", "FAIL"
        try:
            result = run_pipeline(cfg, self.base_dir, data=self.data_for(cfg), tracker=tracker,
                                  hooks=[PruningHook(trial, self.tuning.metric)], out_dir=out_dir, end_run=False)
            status, state = "FINISHED", "COMPLETE"
        except optuna.TrialPruned:
            status, state = "KILLED", "PRUNED"
            raise
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except RecsysNegError as err:
            trial.set_user_attr("error", str(err))
            log.warning("trial %d failed: %s", trial.number, err)
            raise
        finally:
            if tracker.run_id is not None:
                tracker.set_tags({"optuna.state": state})
            close_run(tracker, status)
        if result.run_id:
            trial.set_user_attr("mlflow_run_id", result.run_id)
        trial.set_user_attr("out_dir", str(result.out_dir))
        trial.set_user_attr("epochs", len(result.history))
        return best_value(result.history, self.tuning.metric, self.tuning.direction)

"""One Optuna trial = one full pipeline run, tracked as a nested MLflow run.

The trial's values go through the same path as ``--set`` and the whole config
is validated again, so an impossible combination fails that trial with the
field at fault and the study goes on. The objective is the best validation
value over the trial's epochs; the test split never steers the search.
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
from ..pipeline import run_pipeline
from .space import draw, to_overrides

log = logging.getLogger(__name__)


class PruningCallback:
    """Reports each validated epoch to Optuna; raises ``TrialPruned`` when told to stop."""

    def __init__(self, trial: optuna.Trial, metric: str, tracker=None):
        self.trial, self.key, self.tracker = trial, f"valid_{metric}", tracker

    def __call__(self, epoch: int, record: dict) -> None:
        if self.key not in record:
            return  # not an evaluation epoch
        self.trial.report(float(record[self.key]), epoch)
        if self.trial.should_prune():
            if self.tracker is not None:
                self.tracker.pruned = True
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({self.key}={record[self.key]:.5f})")


def _trial_tracker_class():
    from ..tracking.mlflow_tracker import MLflowTracker

    class TrialTracker(MLflowTracker):
        """Closes a pruned trial's run as KILLED with tag ``optuna.state=PRUNED``, not FAILED."""

        pruned = False

        def end(self, status: str = "FINISHED") -> None:
            if self.pruned and self.run_id is not None:
                self.set_tags({"optuna.state": "PRUNED"})
                status = "KILLED"
            elif self.run_id is not None:
                self.set_tags({"optuna.state": "COMPLETE" if status == "FINISHED" else status})
            super().end(status)

    return TrialTracker


def best_value(history: list[dict], metric: str, direction: str) -> float:
    values = [h[f"valid_{metric}"] for h in history if f"valid_{metric}" in h]
    if not values:
        raise RecsysNegError(f"tuning.metric: no validation value of {metric!r} was recorded")
    return max(values) if direction == "maximize" else min(values)


@dataclass
class Objective:
    raw: dict  # the pipeline file as read (CLI overrides already applied)
    source: str
    base_dir: Path
    study_name: str
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    _data_cache: dict[str, Any] = field(default_factory=dict)

    def config_for(self, trial: optuna.Trial) -> PipelineConfig:
        base = config_from_dict(self.raw, self.source)
        values = draw(trial, base.tuning.space)
        overrides = to_overrides(values)
        trial.set_user_attr("overrides", overrides)
        cfg = config_from_dict(self.raw, f"{self.source} (trial {trial.number})", overrides)
        cfg.train.progress = False
        cfg.eval.test = False  # trials are judged on validation; test only for the final pipeline
        return cfg

    def data_for(self, cfg: PipelineConfig):
        # trials that do not search data fields share one dataset (Gowalla takes seconds to read)
        key = cfg.data.model_dump_json()
        if key not in self._data_cache:
            self._data_cache = {key: build_interactions(cfg.data, base_dir=self.base_dir)}
        return self._data_cache[key]

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            cfg = self.config_for(trial)
            tuning = cfg.tuning
            tracker = None
            if cfg.tracking.enabled:
                tracker = _trial_tracker_class()(self.tracking_uri or cfg.tracking.uri, cfg.tracking.experiment,
                                                 self.parent_run_id)
            cfg.tracking.run_name = f"{self.study_name}-trial-{trial.number}"
            out_dir = Path(cfg.output_dir) / self.study_name / f"trial-{trial.number:04d}"
            if out_dir.exists():  # a worker re-running a number would be a bug: keep evidence
                raise ConfigError(f"{out_dir} already exists; output_dir is shared by another study?")
            if tracker is not None:
                _tag_after_start(tracker, {"optuna.study": self.study_name, "optuna.trial": str(trial.number)})
            callback = PruningCallback(trial, tuning.metric, tracker)
            result = run_pipeline(cfg, self.base_dir, data=self.data_for(cfg), tracker=tracker,
                                  callbacks=[callback], out_dir=out_dir)
        except RecsysNegError as err:
            trial.set_user_attr("error", str(err))
            log.warning("trial %d failed: %s", trial.number, err)
            raise
        if result.run_id:
            trial.set_user_attr("mlflow_run_id", result.run_id)
        trial.set_user_attr("out_dir", str(result.out_dir))
        trial.set_user_attr("epochs", len(result.history))
        return best_value(result.history, tuning.metric, tuning.direction)


def _tag_after_start(tracker, tags: dict[str, str]) -> None:
    """Add tags at run creation without widening the Tracker.start signature."""
    start = tracker.start

    def start_with_tags(run_name, params, base_tags):
        start(run_name, params, {**base_tags, **tags})

    tracker.start = start_with_tags

"""Run a pipeline: assemble the parts, train, evaluate the test split once, record everything.

The test split is read once, after training, from the best checkpoint. A run
killed part-way (Ctrl-C, SIGTERM, SIGKILL) keeps ``last.ckpt`` and continues
with ``recsys-neg train --resume RUN_DIR`` (``recsys_neg.runs.saved``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import PipelineConfig, resolved_dict
from .data import Interactions
from .distributed.single import SingleProcess
from .errors import ConfigError
from .evaluation.noise_separation import noise_hooks
from .metric_key import MetricKey
from .runs.assemble import Parts, build_parts
from .runs.folder import BEST, CONFIG_FILE, METRICS_FILE, git_commit, new_run_dir, write_json
from .tracking.base import NullTracker, Tracker
from .tracking.outputs import log_run_outputs
from .tracking.signals import install_sigterm_as_interrupt, restore_sigterm
from .training import Trainer
from .training.hooks import Hook
from .training.trainer import log_record


@dataclass
class RunResult:
    out_dir: Path
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    stopped: str = ""
    train_seconds: float = 0.0
    run_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # test beyond_accuracy / sampled, as in metrics.json


def make_tracker(cfg: PipelineConfig, tracking_uri: str | None = None, parent_run_id: str | None = None,
                 tags: dict[str, str] | None = None) -> Tracker:
    if not cfg.tracking.enabled:
        return NullTracker()
    from .tracking.mlflow_tracker import MLflowTracker

    return MLflowTracker(tracking_uri or cfg.tracking.uri, cfg.tracking.experiment, parent_run_id, tags=tags)


def run_pipeline(cfg: PipelineConfig, base_dir: Path | None = None, *, df=None,
                 data: Interactions | None = None, tracker: Tracker | None = None,
                 hooks: list[Hook] = (), out_dir: Path | None = None,
                 resume: dict | None = None, end_run: bool = True, parallel=None) -> RunResult:
    """Train and test ``cfg``. ``resume``: a training state (``last.ckpt``) to continue from, in
    ``out_dir``. ``end_run=False`` leaves the tracker's run open for the caller to close.
    ``parallel``: ``recsys_neg.distributed.from_env(cfg.train)`` under torchrun (default: one process);
    only its rank 0 writes the run folder and tracks."""
    parallel = parallel or SingleProcess()
    parts = build_parts(cfg, base_dir, df, data)
    parallel.setup(cfg, parts)
    parts.evaluator = parallel.evaluator(parts.evaluator)
    data = parts.data
    resolved = resolved_dict(cfg)
    tracker = tracker if tracker is not None and parallel.is_writer else NullTracker()
    if resume is not None:
        _check_resumable(resume, resolved, data, out_dir)
        parallel.check_resume(resume, out_dir)
    out_dir = out_dir or parallel.run_dir(lambda: new_run_dir(cfg.output_dir, cfg.name))
    if parallel.is_writer:
        out_dir.mkdir(parents=True, exist_ok=True)
        if resume is None:
            write_json(out_dir / CONFIG_FILE, {**resolved, **parallel.info(), "_base_dir": str(base_dir or Path.cwd())})
    _open_run(tracker, cfg, resolved, data, parts, resume, parallel.info())
    status = "FAILED"
    previous_sigterm = install_sigterm_as_interrupt()  # `kill` ends the run as KILLED, like Ctrl-C
    try:
        trainer = Trainer(cfg.train, data, parts.model, parts.sampler, parts.selector, parts.loss,
                          parts.evaluator, out_dir, parts.device, tracker, batching=parts.batching,
                          checkpoint_extra={"config": resolved, "data_fingerprint": data.fingerprint,
                                            "run_id": tracker.run_id},
                          # injected-noise data gets its loss-separation diagnostics automatically;
                          # other processes than rank 0 write nothing, so they run no outside hooks
                          hooks=[*parallel.hooks(), *((*hooks, *noise_hooks(data, parts.model, parts.loss, out_dir))
                                                      if parallel.is_writer else ())],
                          headline=[str(MetricKey("recall", 20)), str(MetricKey("ndcg", 20))], parallel=parallel)
        fit = trainer.fit(resume)
        test, extras = _test(cfg, parts, fit, out_dir, tracker, parallel)
        if not parallel.is_writer:
            status = "FINISHED"
            return RunResult(out_dir, fit.best_valid, test, fit.history, fit.best_epoch, fit.stopped, fit.seconds)
        summary = {
            "name": cfg.name, "data": data.summary(), **parallel.info(), "best_epoch": fit.best_epoch,
            "stopped": fit.stopped, "train_seconds": fit.seconds, "eval_seconds": fit.eval_seconds,
            "valid": fit.best_valid, "test": test, "history": fit.history, "run_id": tracker.run_id,
            "threads": parts.threads, "device": str(parts.device),
            "protocol": {"split": "test", "ranking": "full",
                         "masked": ["train"] + (["valid"] if data.valid is not None else [])},
            **extras,
        }
        write_json(out_dir / METRICS_FILE, summary)
        log_run_outputs(tracker, out_dir, fit.history, fit.checkpoint,
                        cfg.tracking.log_checkpoint, cfg.tracking.plots)
        status = "FINISHED"
        return RunResult(out_dir, fit.best_valid, test, fit.history, fit.best_epoch, fit.stopped,
                         fit.seconds, tracker.run_id, extras)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if end_run:
            close_run(tracker, status)
        restore_sigterm(previous_sigterm)


def close_run(tracker: Tracker, status: str) -> None:
    try:
        tracker.end(status)
    except Exception as err:  # noqa: BLE001 - never hide the run's own outcome behind this
        warnings.warn(f"could not mark tracking run {tracker.run_id} as {status}: {err}; "
                      "`recsys-neg runs repair` closes it later", stacklevel=1)


def _open_run(tracker: Tracker, cfg: PipelineConfig, resolved: dict, data: Interactions, parts: Parts,
              resume: dict | None, info: dict) -> None:
    run_id = (resume or {}).get("run_id")
    if resume is not None and run_id and not isinstance(tracker, NullTracker):
        tracker.resume(run_id)
        # epochs saved in last.ckpt but killed before reaching the store are logged now
        last = tracker.last_step("train_loss") or 0
        for record in resume["result"]["history"]:
            if record["epoch"] > last:
                log_record(tracker, record)
        return
    tracker.start(cfg.tracking.run_name or cfg.name, resolved, {
        "git_commit": git_commit(), "dataset": data.name, "dataset_fingerprint": data.fingerprint,
        **{f"{s}": cfg.component(s) for s in ("sampler", "model", "loss", "positives", "batching")},
        "device": str(parts.device), **{k: str(v) for k, v in info.items()}})


def _check_resumable(state: dict, resolved: dict, data: Interactions, out_dir: Path | None) -> None:
    if out_dir is None:
        raise ConfigError("resuming needs the run folder (out_dir)")
    if state.get("data_fingerprint") != data.fingerprint:
        raise ConfigError(f"{out_dir}: the data no longer matches the run (fingerprint {data.fingerprint} "
                          f"vs {state.get('data_fingerprint')}); refusing to resume")


def _test(cfg: PipelineConfig, parts: Parts, fit, out_dir: Path, tracker: Tracker, parallel
          ) -> tuple[dict[str, float], dict[str, Any]]:
    """Test metrics, and the beyond-accuracy / sampled sections of metrics.json when configured."""
    if fit.checkpoint is not None:
        parallel.load_best(parts.model, fit.checkpoint, parts.device)
    if not (cfg.eval.test and parts.data.test is not None):
        return {}, {}
    res = parts.evaluator.evaluate(parts.model, "test")  # every user's values, also under torchrun
    if parallel.is_writer:
        res.per_user_frame().to_csv(out_dir / "test_per_user.csv", index=False)
    extras = {k: v for k, v in res.to_dict().items() if k in ("beyond_accuracy", "sampled")}
    tracked = {**res.metrics, **res.beyond, **res.sampled}
    tracker.log_metrics({MetricKey.parse(k).tracked("test"): v for k, v in tracked.items() if v == v},
                        step=fit.best_epoch)
    return res.metrics, extras


__all__ = ["RunResult", "make_tracker", "run_pipeline", "close_run", "BEST"]

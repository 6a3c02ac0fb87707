"""``recsys-neg tune``: create or resume a study, run trials in worker processes, report.

Workers share the study through its storage (sqlite locally, PostgreSQL
across machines). ``--trials N`` means N more trials in total, split exactly
between the workers, so resuming adds trials and no worker runs extra ones.
The study's MLflow parent run id is kept in the study's user attributes, so
every worker and every resumed invocation nests its trials under the same run.
"""
from __future__ import annotations

import copy
import logging
import multiprocessing as mp
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import PipelineConfig, config_from_dict, load_yaml, resolved_dict, set_path, parse_override
from ..errors import ConfigError, RecsysNegError

log = logging.getLogger(__name__)
PARENT_ATTR = "mlflow_parent_run_id"
FINAL_STATES = ("COMPLETE", "PRUNED", "FAIL")


@dataclass
class TuneResult:
    study_name: str
    storage: str
    counts: dict[str, int]
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    best_file: Path | None
    plots: list[Path] = field(default_factory=list)
    parent_run_id: str | None = None


def split_trials(n_trials: int, workers: int) -> list[int]:
    """Exact quotas: e.g. 10 trials on 3 workers -> [4, 3, 3]."""
    base, extra = divmod(n_trials, workers)
    return [base + (i < extra) for i in range(workers) if base + (i < extra) > 0]


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for o in overrides:
        path, value = parse_override(o)
        set_path(raw, path, value)
    return raw


def check_tunable(cfg: PipelineConfig, source: str) -> None:
    if cfg.tuning is None:
        raise ConfigError(f"{source}: no 'tuning:' section; add one with a 'space:' to search")
    names = {f"{m}@{k}" for m in cfg.eval.metrics for k in cfg.eval.ks}
    if cfg.tuning.metric not in names:
        raise ConfigError(f"tuning.metric: {cfg.tuning.metric!r} is not computed; "
                          f"eval computes {', '.join(sorted(names))}")
    if cfg.data.merge_valid:
        raise ConfigError("data.merge_valid: tuning reads the validation split, which merge_valid=true "
                          "folds into training; set data.merge_valid=false for the search")
    own = set(PipelineConfig.model_fields) - {"tuning"}
    for path in cfg.tuning.space:
        if path.split(".")[0] not in own:
            raise ConfigError(f"tuning.space.{path}: {path.split('.')[0]!r} is not a pipeline section "
                              f"({', '.join(sorted(own))})")


def open_storage(url: str):
    import optuna

    if url.startswith("sqlite:"):
        # several processes write one sqlite file: wait for the lock instead of failing
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url)


def make_sampler(tuning, worker: int):
    import optuna

    seed = None if tuning.seed is None else tuning.seed + worker  # same seed = same trials
    if tuning.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tuning.startup_trials)


def make_pruner(tuning):
    import optuna

    # steps are epochs counted from 1; optuna may prune at step >= n_warmup_steps
    first_prunable = tuning.warmup_epochs + 1
    if tuning.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=tuning.startup_trials,
                                           n_warmup_steps=first_prunable)
    if tuning.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first_prunable)
    return optuna.pruners.NopPruner()


def load_study(name: str, storage: str, tuning, worker: int = 0):
    import optuna

    return optuna.create_study(study_name=name, storage=open_storage(storage), direction=tuning.direction,
                               sampler=make_sampler(tuning, worker), pruner=make_pruner(tuning),
                               load_if_exists=True)


@dataclass
class WorkerJob:
    raw: dict
    source: str
    base_dir: str
    study_name: str
    storage: str
    n_trials: int
    worker: int
    parent_run_id: str | None
    tracking_uri: str | None
    timeout_s: float | None
    threads: int


def run_worker(job: WorkerJob) -> None:
    """Runs ``job.n_trials`` trials of the shared study (in this process)."""
    import torch

    from .objective import Objective

    torch.set_num_threads(job.threads)
    cfg = config_from_dict(job.raw, job.source)
    study = load_study(job.study_name, job.storage, cfg.tuning, job.worker)
    objective = Objective(job.raw, job.source, Path(job.base_dir), job.study_name,
                          job.parent_run_id, job.tracking_uri)
    study.optimize(objective, n_trials=job.n_trials, timeout=job.timeout_s,
                   catch=(RecsysNegError,), gc_after_trial=True)


def _spawned_worker(job: WorkerJob) -> None:
    from ..tracking.signals import install_sigterm_as_interrupt

    install_sigterm_as_interrupt()
    try:
        run_worker(job)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def run_workers(jobs: list[WorkerJob]) -> None:
    if len(jobs) == 1:
        run_worker(jobs[0])
        return
    ctx = mp.get_context("spawn")  # fresh interpreters: no forked torch/sqlite state
    procs = [ctx.Process(target=_spawned_worker, args=(job,), name=f"tune-worker-{job.worker}") for job in jobs]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: each worker closes its trial's run as KILLED
        for p in procs:
            p.join(30)
        raise
    failed = [p.name for p in procs if p.exitcode != 0]
    if failed:
        raise RecsysNegError(f"tuning workers exited with an error: {', '.join(failed)}")


def _parent_run(study, cfg: PipelineConfig, study_name: str, storage: str, tracking_uri: str | None):
    """The study's MLflow run: created once, found again by every later worker or invocation."""
    from ..tracking.mlflow_tracker import MLflowTracker

    tracker = MLflowTracker(tracking_uri or cfg.tracking.uri, cfg.tracking.experiment)
    run_id = study.user_attrs.get(PARENT_ATTR)
    if run_id:
        try:
            tracker.client.get_run(run_id)
            tracker.client.update_run(run_id, status="RUNNING")
            tracker.run_id = run_id
            return tracker
        except Exception:  # the study outlived its MLflow store: start a new parent
            log.warning("parent run %s not found in %s; creating a new one", run_id, tracker.uri)
    params = {"tuning": cfg.tuning.model_dump(mode="json"), "base": resolved_dict(cfg)}
    tracker.start(f"study-{study_name}", params,
                  {"optuna.study": study_name, "optuna.storage": _safe_url(storage), "kind": "optuna_study"})
    study.set_user_attr(PARENT_ATTR, tracker.run_id)
    return tracker


def _safe_url(url: str) -> str:
    """A storage URL without its password, fit for a tag."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def tune(pipeline: str | Path, n_trials: int, study_name: str | None = None, storage: str | None = None,
         workers: int = 1, overrides: list[str] = (), tracking_uri: str | None = None,
         best_out: str | Path | None = None, timeout_s: float | None = None) -> TuneResult:
    from .report import summarise, write_best_pipeline, write_plots

    if n_trials < 1:
        raise ConfigError("--trials: must be at least 1")
    if workers < 1:
        raise ConfigError("--workers: must be at least 1")
    pipeline = Path(pipeline)
    raw = apply_overrides(load_yaml(pipeline), list(overrides))
    source = str(pipeline)
    cfg = config_from_dict(raw, source)
    check_tunable(cfg, source)
    tuning = cfg.tuning
    study_name = study_name or tuning.study or cfg.name
    storage = storage or tuning.storage
    study = load_study(study_name, storage, tuning)  # creates tables/study before workers race
    parent = _parent_run(study, cfg, study_name, storage, tracking_uri) if cfg.tracking.enabled else None
    threads = max(1, (os.cpu_count() or 1) // workers)
    jobs = [WorkerJob(raw, source, str(pipeline.resolve().parent), study_name, storage, q, i,
                      parent.run_id if parent else None, tracking_uri, timeout_s or tuning.timeout_s, threads)
            for i, q in enumerate(split_trials(n_trials, workers))]
    status = "FAILED"
    try:
        run_workers(jobs)
        study = load_study(study_name, storage, tuning)
        best_file = write_best_pipeline(study, raw, pipeline, best_out or Path(f"{study_name}_best.yaml"))
        plots = write_plots(study, Path(cfg.output_dir) / study_name)
        result = summarise(study, storage, best_file, plots, parent.run_id if parent else None)
        if parent is not None:
            for path in [best_file, *plots]:
                if path is not None:
                    parent.log_artifact(path)
            if result.best_value is not None:
                parent.log_metrics({f"best_valid_{tuning.metric.replace('@', '_at_')}": result.best_value,
                                    **{f"trials_{k.lower()}": v for k, v in result.counts.items()}})
                parent.set_tags({"best_trial": str(result.best_trial)})
        status = "FINISHED"
        return result
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if parent is not None:
            parent.end(status)

"""``recsys-neg tune``: create or join a study, run trials in worker processes, report.

Workers share the study through its storage (sqlite locally, PostgreSQL
across machines). ``--trials N`` means N more finished trials in total, split
exactly between the workers, so resuming adds trials and no worker runs extra
ones. A worker killed by a signal is replaced for its unfinished share; its
running trial stops beating, is marked FAIL and re-queued with the same
parameters (heartbeat + retry callback), so no trial is silently lost. The
best pipeline file is rewritten whenever a trial becomes the study's best and
once more at the end, always from the storage, so it reflects the study's
true best when written, whichever process writes it.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..config import PipelineConfig, apply_overrides, config_from_dict, load_yaml, resolved_dict
from ..errors import ConfigError, RecsysNegError
from ..registry import format_validation_error
from .config import TuningConfig
from .parent_run import parent_run
from .result import TuneResult
from .storage import open_study

log = logging.getLogger(__name__)
DONE = ("COMPLETE", "PRUNED", "FAIL")


def split_trials(n_trials: int, workers: int) -> list[int]:
    """Exact quotas: e.g. 10 trials on 3 workers -> [4, 3, 3]."""
    base, extra = divmod(n_trials, workers)
    return [base + (i < extra) for i in range(workers) if base + (i < extra) > 0]


def tuning_config(cfg: PipelineConfig, source: str) -> TuningConfig:
    """The ``tuning:`` section, validated against the pipeline it searches."""
    from pydantic import ValidationError

    if cfg.tuning is None:
        raise ConfigError(f"{source}: no 'tuning:' section; add one with a 'space:' to search")
    try:
        tuning = TuningConfig.model_validate(cfg.tuning)
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid tuning section\n" + format_validation_error(err, "tuning")) from None
    if tuning.metric not in cfg.eval.keys():
        raise ConfigError(f"tuning.metric: {tuning.metric} is not computed; "
                          f"eval computes {', '.join(map(str, cfg.eval.keys()))}")
    if cfg.data.merge_valid:
        raise ConfigError("data.merge_valid: tuning reads the validation split, which merge_valid=true "
                          "folds into training; set data.merge_valid=false for the search")
    own = set(PipelineConfig.model_fields) - {"tuning"}
    for path in tuning.space:
        if path.split(".")[0] not in own:
            raise ConfigError(f"tuning.space.{path}: {path.split('.')[0]!r} is not a pipeline section "
                              f"({', '.join(sorted(own))})")
    return tuning


@dataclass
class WorkerJob:
    raw: dict
    source: str
    pipeline: str
    study_name: str
    storage: str
    n_trials: int
    worker: int
    worker_id: str
    parent_run_id: str | None
    tracking_uri: str | None
    timeout_s: float | None
    threads: int
    best_out: str


class BestFileCallback:
    """After a trial that is the study's best (read back from the storage), rewrite the best file."""

    def __init__(self, raw: dict, pipeline: Path, out: Path):
        self.raw, self.pipeline, self.out = raw, pipeline, out

    def __call__(self, study, trial) -> None:
        from optuna.trial import TrialState

        from .report import write_best_pipeline

        if trial.state == TrialState.COMPLETE and study.best_trial.number == trial.number:
            write_best_pipeline(study, self.raw, self.pipeline, self.out)


def run_worker(job: WorkerJob) -> None:
    """Runs ``job.n_trials`` trials of the shared study (in this process)."""
    from ..runs.runtime import configure_threads
    from .objective import Objective

    configure_threads(job.threads)
    cfg = config_from_dict(job.raw, job.source)
    tuning = tuning_config(cfg, job.source)
    study, _ = open_study(job.study_name, job.storage, tuning, job.worker)
    objective = Objective(job.raw, job.source, Path(job.pipeline).resolve().parent, job.study_name, tuning,
                          job.parent_run_id, job.tracking_uri, job.worker_id)
    study.optimize(objective, n_trials=job.n_trials, timeout=job.timeout_s, catch=(RecsysNegError,),
                   gc_after_trial=True,
                   callbacks=[BestFileCallback(job.raw, Path(job.pipeline), Path(job.best_out))])


def _spawned_worker(job: WorkerJob) -> None:
    from ..tracking.signals import install_sigterm_as_interrupt

    install_sigterm_as_interrupt()
    try:
        run_worker(job)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _finished_by(study_name: str, storage: str, tuning: TuningConfig, worker_id: str) -> int:
    from .storage import open_study as _open

    import warnings

    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    study, _ = _open(study_name, storage, tuning)
    trials = study.get_trials(deepcopy=False)
    # a trial failed by its stopped heartbeat and queued again is not done: its retry is, whoever runs it
    with warnings.catch_warnings():  # experimental since optuna 2.8; stable in use
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retried = {RetryHeartbeatStaleTrialCallback.retried_trial_number(t) for t in trials}
    return sum(1 for t in trials
               if t.state.name in DONE and t.user_attrs.get("worker") == worker_id and t.number not in retried)


def _queue_retries(study_name: str, storage: str, tuning: TuningConfig) -> None:
    """Fail the dead worker's trial once its grace period is over, which re-queues it."""
    import optuna

    study, _ = open_study(study_name, storage, tuning)
    time.sleep((tuning.grace_s or 2 * (tuning.heartbeat_s or 0)) + 1)
    optuna.storages.fail_stale_trials(study)


def run_workers(jobs: list[WorkerJob], tuning: TuningConfig, max_replacements: int = 2) -> None:
    """Run the jobs in worker processes; a worker killed by a signal is replaced as soon as it dies
    (the others keep going), up to ``max_replacements`` times."""
    if len(jobs) == 1:
        run_worker(jobs[0])
        return
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")  # fresh interpreters: no forked torch/sqlite state
    running: dict = {}  # process sentinel -> (job, process)

    def start(job: WorkerJob) -> None:
        p = ctx.Process(target=_spawned_worker, args=(job,), name=f"tune-worker-{job.worker}")
        p.start()
        running[p.sentinel] = (job, p)

    for job in jobs:
        start(job)
    replaced, failed, killed = 0, [], []
    try:
        while running:
            for sentinel in wait(list(running)):
                job, p = running.pop(sentinel)
                p.join()
                if p.exitcode > 0:
                    failed.append(p.name)
                elif p.exitcode < 0 and tuning.heartbeat_s and replaced < max_replacements:
                    replaced += 1
                    _queue_retries(job.study_name, job.storage, tuning)
                    left = job.n_trials - _finished_by(job.study_name, job.storage, tuning, job.worker_id)
                    log.warning("worker %d was killed; a replacement runs its %d remaining trial(s)",
                                job.worker, left)
                    if left > 0:
                        start(WorkerJob(**{**job.__dict__, "n_trials": left,
                                           "worker_id": f"{job.worker_id}.r{replaced}"}))
                elif p.exitcode < 0:
                    killed.append(p.name)
    except KeyboardInterrupt:
        for _, p in running.values():
            if p.is_alive():
                p.terminate()  # SIGTERM: each worker closes its trial's run as KILLED
        for _, p in running.values():
            p.join(30)
        raise
    if failed:
        raise RecsysNegError(f"tuning workers exited with an error: {', '.join(failed)}")
    if killed:
        raise RecsysNegError(f"tuning workers were killed: {', '.join(killed)}")


def tune(pipeline: str | Path, n_trials: int, study_name: str | None = None, storage: str | None = None,
         workers: int = 1, overrides: list[str] = (), tracking_uri: str | None = None,
         best_out: str | Path | None = None, timeout_s: float | None = None) -> TuneResult:
    from ..runs.runtime import usable_cpus
    from ..tracking.mlflow_tracker import MLflowTracker
    from .report import finish

    if n_trials < 1:
        raise ConfigError("--trials: must be at least 1")
    if workers < 1:
        raise ConfigError("--workers: must be at least 1")
    pipeline = Path(pipeline)
    raw = apply_overrides(load_yaml(pipeline), list(overrides))
    source = str(pipeline)
    cfg = config_from_dict(raw, source)
    tuning = tuning_config(cfg, source)
    study_name = study_name or tuning.study or cfg.name
    storage = storage or tuning.storage
    study, created = open_study(study_name, storage, tuning)  # creates the tables before workers race
    parent = None
    if cfg.tracking.enabled:
        parent = MLflowTracker(tracking_uri or cfg.tracking.uri, cfg.tracking.experiment)
        parent_run(study, created, parent, {"tuning": tuning.model_dump(mode="json"), "base": resolved_dict(cfg)},
                   storage)
    best_out = Path(best_out or f"{study_name}_best.yaml")
    invocation = uuid.uuid4().hex[:8]
    threads = max(1, usable_cpus() // workers)
    jobs = [WorkerJob(raw, source, str(pipeline), study_name, storage, q, i, f"{invocation}/{i}",
                      parent.run_id if parent else None, tracking_uri, timeout_s or tuning.timeout_s, threads,
                      str(best_out))
            for i, q in enumerate(split_trials(n_trials, workers))]
    status = "FAILED"
    try:
        run_workers(jobs, tuning)
        result = finish(study_name, storage, tuning, raw, pipeline, best_out, Path(cfg.output_dir), parent)
        status = "FINISHED"
        return result
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if parent is not None:
            parent.end(status)

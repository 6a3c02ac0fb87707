"""Optuna storage and study handles shared by every worker."""
from __future__ import annotations

import time
import warnings

from ..store_lock import store_init_lock
from .config import TuningConfig


def open_storage(url: str, tuning: TuningConfig | None = None):
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    with warnings.catch_warnings():  # marked experimental since optuna 2.8; the interface we use is stable
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        kwargs = {}
        if tuning is not None and tuning.heartbeat_s:
            kwargs = dict(heartbeat_interval=tuning.heartbeat_s, grace_period=tuning.grace_s,
                          heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                              max_retry=tuning.max_retries))
        # several processes write one sqlite file: wait for the lock instead of failing
        engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite:") else None
        for attempt in range(5):  # first-time users of a server database may race to create its tables
            try:
                with store_init_lock(url):
                    return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
            except SQLAlchemyError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))


def make_sampler(tuning: TuningConfig, worker: int):
    import optuna

    seed = None if tuning.seed is None else tuning.seed + worker  # same seed = same trials
    if tuning.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tuning.startup_trials)


def make_pruner(tuning: TuningConfig):
    import optuna

    # steps are epochs counted from 1; optuna may prune at step >= n_warmup_steps
    first_prunable = tuning.warmup_epochs + 1
    if tuning.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=tuning.startup_trials,
                                           n_warmup_steps=first_prunable)
    if tuning.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first_prunable)
    return optuna.pruners.NopPruner()


def open_study(name: str, storage: str, tuning: TuningConfig, worker: int = 0):
    """(study, created): ``created`` is True for the one caller whose call created it."""
    import optuna
    from optuna.exceptions import DuplicatedStudyError

    args = dict(study_name=name, storage=open_storage(storage, tuning), direction=tuning.direction,
                sampler=make_sampler(tuning, worker), pruner=make_pruner(tuning))
    try:
        return optuna.create_study(**args, load_if_exists=False), True
    except DuplicatedStudyError:
        return optuna.create_study(**args, load_if_exists=True), False

"""Build every part of a run from a validated config, train, evaluate, record.

Order matters for honesty: the config is validated, then the data is checked
against it (K vs catalogue size, early-stopping metric), all before training;
the test split is read once, after training, from the best checkpoint.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .config import PipelineConfig, config_from_dict, resolved_dict
from .data import Interactions, build_interactions
from .errors import ConfigError
from .evaluation import Evaluator
from .evaluation.noise_separation import noise_observers
from .losses import build_loss
from .models import build_model
from .positives import build_positive_selector
from .samplers import build_sampler
from .tracking.base import NullTracker, Tracker, metric_key
from .tracking.outputs import log_run_outputs
from .tracking.signals import install_sigterm_as_interrupt, restore_sigterm
from .training import Trainer
from .training.checkpoint import load_checkpoint


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} requested but CUDA is not available")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def check_against_data(cfg: PipelineConfig, data: Interactions) -> None:
    if max(cfg.eval.ks) > data.n_items:
        raise ConfigError(f"eval.ks: K={max(cfg.eval.ks)} is larger than the number of items "
                          f"({data.n_items}) in {data.name}")
    es = cfg.train.early_stopping
    if es is not None and data.valid is not None:
        names = {f"{m}@{k}" for m in cfg.eval.metrics for k in cfg.eval.ks}
        if es.metric not in names:
            raise ConfigError(f"train.early_stopping.metric: {es.metric!r} is not computed; "
                              f"eval computes {', '.join(sorted(names))}")
    if data.n_train == 0:
        raise ConfigError(f"data: the training split of {data.name} is empty")


def new_run_dir(root: str | Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{name}-{stamp}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


@dataclass
class Parts:
    data: Interactions
    model: Any
    sampler: Any
    selector: Any
    loss: Any
    evaluator: Evaluator
    device: torch.device


def build_parts(cfg: PipelineConfig, base_dir: Path | None = None, df=None,
                data: Interactions | None = None) -> Parts:
    device = resolve_device(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    data = data if data is not None else build_interactions(cfg.data, base_dir=base_dir, df=df)
    check_against_data(cfg, data)
    model = build_model(cfg.model.name, cfg.model.values(), data).to(device)
    sampler = build_sampler(cfg.sampler.name, cfg.sampler.values(), data, device)
    selector = build_positive_selector(cfg.positives.name, cfg.positives.values(), data, device)
    loss = build_loss(cfg.loss.name, cfg.loss.values(), data).to(device)
    evaluator = Evaluator(data, ks=cfg.eval.ks, metrics=cfg.eval.metrics,
                          batch_size=cfg.eval.batch_size, device=device)
    return Parts(data, model, sampler, selector, loss, evaluator, device)


def make_tracker(cfg: PipelineConfig, tracking_uri: str | None = None,
                 parent_run_id: str | None = None) -> Tracker:
    if not cfg.tracking.enabled:
        return NullTracker()
    from .tracking.mlflow_tracker import MLflowTracker

    return MLflowTracker(tracking_uri or cfg.tracking.uri, cfg.tracking.experiment, parent_run_id)


def run_pipeline(cfg: PipelineConfig, base_dir: Path | None = None, *, df=None,
                 data: Interactions | None = None, tracker: Tracker | None = None,
                 callbacks: list[Callable[[int, dict], None]] | None = None,
                 observers: list[Callable] | None = None,
                 out_dir: Path | None = None) -> RunResult:
    parts = build_parts(cfg, base_dir, df, data)
    data = parts.data
    resolved = resolved_dict(cfg)
    out_dir = out_dir or new_run_dir(cfg.output_dir, cfg.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "config.json", {**resolved, "_base_dir": str(base_dir or Path.cwd())})
    tracker = tracker or NullTracker()
    tracker.start(cfg.tracking.run_name or cfg.name, resolved, {
        "git_commit": git_commit(), "dataset": data.name, "dataset_fingerprint": data.fingerprint,
        "sampler": cfg.sampler.name, "model": cfg.model.name, "loss": cfg.loss.name,
        "positives": cfg.positives.name, "device": str(parts.device)})
    status = "FAILED"
    previous_sigterm = install_sigterm_as_interrupt()  # `kill` ends the run as KILLED, like Ctrl-C
    try:
        trainer = Trainer(cfg.train, data, parts.model, parts.sampler, parts.selector, parts.loss,
                          parts.evaluator, out_dir, parts.device, tracker,
                          checkpoint_extra={"config": resolved, "data_fingerprint": data.fingerprint},
                          callbacks=callbacks,
                          # injected-noise data gets its loss-separation diagnostics automatically
                          observers=list(observers or []) + noise_observers(data))
        fit = trainer.fit()
        if fit.checkpoint is not None:
            parts.model.load_state_dict(load_checkpoint(fit.checkpoint, parts.device)["model_state"])
        test: dict[str, float] = {}
        if cfg.eval.test and data.test is not None:
            res = parts.evaluator.evaluate(parts.model, "test")
            test = res.metrics
            res.per_user_frame().to_csv(out_dir / "test_per_user.csv", index=False)
            tracker.log_metrics({metric_key(k, "test"): v for k, v in test.items()}, step=fit.best_epoch)
        summary = {
            "name": cfg.name, "data": data.summary(), "best_epoch": fit.best_epoch,
            "stopped": fit.stopped, "train_seconds": fit.seconds, "valid": fit.best_valid,
            "test": test, "history": fit.history, "run_id": tracker.run_id,
        }
        write_json(out_dir / "metrics.json", summary)
        log_run_outputs(tracker, out_dir, fit.history, fit.checkpoint,
                        cfg.tracking.log_checkpoint, cfg.tracking.plots)
        status = "FINISHED"
        return RunResult(out_dir, fit.best_valid, test, fit.history, fit.best_epoch, fit.stopped,
                         fit.seconds, tracker.run_id)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        try:
            tracker.end(status)
        except Exception as err:  # noqa: BLE001 - never hide the run's own outcome behind this
            warnings.warn(f"could not mark tracking run {tracker.run_id} as {status}: {err}; "
                          "`recsys-neg runs repair` closes it later", stacklevel=1)
        restore_sigterm(previous_sigterm)


def evaluate_saved(path: str | Path, splits: tuple[str, ...] = ("valid", "test")) -> dict[str, dict]:
    """Re-evaluate a finished run (its folder) or a checkpoint file."""
    path = Path(path)
    ckpt_path = path / "best.ckpt" if path.is_dir() else path
    if not ckpt_path.is_file():
        raise ConfigError(f"no checkpoint at {ckpt_path}")
    ckpt = load_checkpoint(ckpt_path)
    resolved = dict(ckpt["config"])
    cfg_file = ckpt_path.parent / "config.json"
    base_dir = Path(json.loads(cfg_file.read_text()).get("_base_dir", ".")) if cfg_file.exists() else None
    cfg = config_from_dict(resolved, str(ckpt_path))
    parts = build_parts(cfg, base_dir)
    if parts.data.fingerprint != ckpt.get("data_fingerprint"):
        raise ConfigError(f"{ckpt_path}: the data no longer matches the checkpoint "
                          f"(fingerprint {parts.data.fingerprint} vs {ckpt.get('data_fingerprint')})")
    parts.model.load_state_dict(ckpt["model_state"])
    return {s: parts.evaluator.evaluate(parts.model, s).to_dict()
            for s in splits if parts.data.split(s) is not None}

"""The one training loop. Every research idea plugs into a component, never into here.

Per epoch: shuffle, ``train_step`` per batch, validate every ``eval_every``
epochs (early stopping and the best checkpoint read the validation split; the
test split is never read here), then write the resumable state ``last.ckpt``.
``time_budget_s`` counts training time only: validation is timed apart.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import TrainingError
from ..lr_schedule import lr_factor
from ..metric_key import MetricKey, tracked_name
from ..step import Step
from ..tracking.base import NullTracker, Tracker
from . import rng
from .checkpoint import save_atomic
from .early_stopping import EarlyStopper
from .hooks import Hook, Hooks
from .optim import build_optimizer
from .progress import Progress
from .step import PhaseTimer, StepParts, train_step

STATE_FORMAT = "recsys_neg.train_state/1"


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    best_valid: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    stopped: str = "epochs"
    seconds: float = 0.0  # training time, validation excluded
    eval_seconds: float = 0.0


@dataclass
class _EpochProgress:
    """Where an epoch is; saved mid-epoch so a resumed run replays nothing and skips nothing."""

    perm: torch.Tensor
    position: int = 0
    loss_sum: float = 0.0
    steps: int = 0
    seen: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


class Trainer:
    def __init__(self, cfg, data, model, sampler, selector, loss, evaluator, out_dir: Path,
                 device: torch.device, tracker: Tracker | None = None,
                 checkpoint_extra: dict[str, Any] | None = None, hooks: list[Hook] = (),
                 headline: list[str] = (), batching=None, parallel=None):
        self.cfg, self.data, self.model = cfg, data, model
        self.sampler, self.selector, self.loss_fn = sampler, selector, loss
        self.evaluator, self.out_dir, self.device = evaluator, Path(out_dir), device
        self.tracker = tracker or NullTracker()
        self.checkpoint_extra = checkpoint_extra or {}
        self.hooks = Hooks(list(hooks))
        if batching is None:
            from ..batching.shuffle import Shuffle
            from ..registry import Params

            batching = Shuffle(data, Params(), device)
        self.batching = batching
        self.headline = list(headline)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(cfg.seed)
        # One process: SingleProcess (every hook the identity). Under torchrun: distributed.DataParallel.
        if parallel is None:
            from ..distributed.single import SingleProcess

            parallel = SingleProcess()
        self.parallel = parallel
        # a step's draws: the trainer's stream in one process, each process's own under torchrun
        self.step_generator = parallel.step_generator(self.generator, cfg.seed)
        es = cfg.early_stopping if data.valid is not None else None
        self.es_metric: MetricKey | None = es.metric if es is not None else None
        self.stopper = EarlyStopper(es.patience, es.min_delta) if es is not None else None
        self._clock = time.process_time if cfg.budget_clock == "cpu" else time.perf_counter
        self._es_stop = False
        self._validated_at = 0.0  # training seconds at the last validation
        self.global_step = 0
        self.result = TrainResult()
        self.epochs_done = 0
        self.optimizer = None

    # ------------------------------------------------------------------
    def fit(self, resume: dict | None = None) -> TrainResult:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        result = self.result
        if not self.model.trainable:
            result.stopped = "not trainable"
            result.checkpoint = self._save_best(0, {})
            return result
        users_all, items_all = (t.to(self.device) for t in self.data.train_pairs)
        parts = None
        if not self.model.self_training:
            self.optimizer = self.parallel.optimizer(
                build_optimizer(self.model, self.cfg.optimizer, self.cfg.lr, extra=[self.loss_fn]),
                [self.model, self.loss_fn])
            parts = StepParts(self.model, self.sampler, self.selector, self.loss_fn, self.optimizer, self.cfg.l2)
        in_epoch = self._restore(resume) if resume is not None else None
        progress = Progress(self.cfg.progress and self.parallel.is_writer, self.cfg.epochs)
        if resume is not None:
            progress.note(f"resumed after epoch {self.epochs_done}"
                          + (f" (mid-epoch {in_epoch.position}/{users_all.shape[0]} positives)" if in_epoch else "")
                          + f", step {self.global_step}")
        for epoch in range(self.epochs_done + 1, self.cfg.epochs + 1):
            if self.model.self_training:
                record, out_of_time = self._self_fit_epoch(epoch)
            else:
                record, out_of_time = self._epoch(epoch, users_all, items_all, parts, progress, in_epoch)
            in_epoch = None
            improved = self._validate(epoch, record, out_of_time)
            record.update(self.loss_fn.diagnostics())
            record.update({**self.sampler.diagnostics(), **self.batching.diagnostics()})
            record.update(self.hooks.epoch_metrics(epoch))
            result.history.append(record)
            self.epochs_done = epoch
            stop = self._stop_reason(epoch, out_of_time)
            if stop:
                result.stopped = stop
            self._save_state()
            self._log_epoch(epoch, record)
            progress.epoch_end(record, self._eta(epoch), self.headline, improved)
            self.hooks.epoch_end(epoch, record)
            if stop:
                break
        self.hooks.train_end(result)
        return result

    # ------------------------------------------------------------------
    def _epoch(self, epoch, users_all, items_all, parts, progress, in_epoch: _EpochProgress | None
               ) -> tuple[dict, bool]:
        self.model.train()
        n, bs = users_all.shape[0], self.cfg.batch_size
        if in_epoch is None:
            t_start = time.perf_counter()  # an index refresh or re-clustering is training time too
            start = Step(epoch, self.global_step, self.generator)
            own = Step(epoch, self.global_step, self.step_generator)
            self.sampler.epoch_start(own)
            self.selector.epoch_start(own)
            self.hooks.epoch_start(epoch)
            in_epoch = _EpochProgress(self.batching.order(n, start).to(self.device))
            in_epoch.seconds = time.perf_counter() - t_start
        self._current = in_epoch
        timer = PhaseTimer(self.device, self._clock)
        timer.totals = dict(in_epoch.phases)
        progress.epoch_start(epoch, math.ceil(n / bs), in_epoch.position // bs)
        t_epoch, wall0 = self._clock() - in_epoch.seconds, time.perf_counter()
        out_of_time = False
        for lo in range(in_epoch.position, n, bs):
            idx = in_epoch.perm[lo: lo + bs]
            self.global_step += 1  # counts across epochs (schedules read it)
            if self.cfg.lr_schedule is not None:
                self.optimizer.set_lr(self.cfg.lr * lr_factor(self.cfg.lr_schedule, self.global_step,
                                                                math.ceil(n / bs)))
            mine = self.parallel.shard(idx)  # this process's share of the global batch
            loss = (train_step(parts, users_all[mine], items_all[mine],
                               Step(epoch, self.global_step, self.step_generator), timer)
                    if mine.shape[0] else self.parallel.idle_step(parts.optimizer))
            if not math.isfinite(loss):
                kept = self.out_dir / "best.ckpt"
                raise TrainingError(
                    f"training loss became {loss} at epoch {epoch}, step {self.global_step} "
                    f"(lr={self.cfg.lr}); stopped. The last good checkpoint is kept"
                    + (f" at {kept}" if kept.exists() else ""))
            in_epoch.loss_sum += self.parallel.weighted(loss)
            in_epoch.steps += 1
            in_epoch.seen += idx.shape[0]
            in_epoch.position = lo + idx.shape[0]
            in_epoch.seconds = self._clock() - t_epoch
            in_epoch.phases = dict(timer.totals)
            progress.batch(in_epoch.loss_sum / in_epoch.steps, in_epoch.seen / max(in_epoch.seconds, 1e-9))
            every = self.cfg.checkpoint_every_steps
            if every and self.global_step % every == 0 and in_epoch.position < n:
                self._save_state(in_epoch)
            if self.cfg.time_budget_s and self.parallel.any(
                    self.result.seconds + in_epoch.seconds > self.cfg.time_budget_s):
                out_of_time = True
                break
        seconds = self.parallel.agree_seconds(self._clock() - t_epoch)
        self.result.seconds += seconds
        loss_sum = self.parallel.sum(in_epoch.loss_sum)
        record = {"epoch": epoch, "train_loss": loss_sum / max(in_epoch.steps, 1),
                  "epoch_seconds": seconds, "positives_per_s": in_epoch.seen / max(seconds, 1e-9),
                  **({"epoch_wall_seconds": time.perf_counter() - wall0} if self.cfg.budget_clock == "cpu" else {}),
                  "fraction": in_epoch.seen / n, "train_seconds": self.result.seconds,
                  **({"lr": self.optimizer.lr} if self.cfg.lr_schedule is not None else {}),
                  **{f"time_{k}": v for k, v in timer.totals.items()}}
        return record, out_of_time

    def _self_fit_epoch(self, epoch: int) -> tuple[dict, bool]:
        """An epoch of a model that fits itself (one ALS sweep, a closed form)."""
        t0 = self._clock()
        self.global_step += 1
        loss = self.model.fit_epoch(Step(epoch, self.global_step, self.generator))
        seconds = self._clock() - t0
        self.result.seconds += seconds
        n = self.data.n_train
        record = {"epoch": epoch, **({} if loss is None else {"train_loss": float(loss)}),
                  "epoch_seconds": seconds, "positives_per_s": n / max(seconds, 1e-9), "fraction": 1.0,
                  "train_seconds": self.result.seconds}
        return record, bool(self.cfg.time_budget_s and self.result.seconds > self.cfg.time_budget_s)

    def _validate(self, epoch: int, record: dict, out_of_time: bool) -> bool:
        """Validation, best checkpoint and early stopping; True when this epoch is the new best."""
        result = self.result
        if self.data.valid is None:
            # No validation split (train+valid merged): the latest model is the result.
            result.best_epoch = epoch
            result.checkpoint = self._save_best(epoch, {})
            return False
        if not (self._validation_due(epoch) or epoch == self.cfg.epochs or out_of_time):
            return False
        self._validated_at = result.seconds
        t0 = time.perf_counter()
        valid = self.evaluator.evaluate(self.model, "valid", extras=False)  # no sampled/beyond per epoch
        record["eval_seconds"] = time.perf_counter() - t0
        result.eval_seconds += record["eval_seconds"]
        record.update({f"valid_{k}": v for k, v in valid.metrics.items()})
        improved = True
        if self.stopper is not None:
            verdict = self.stopper.update(valid.metrics[str(self.es_metric)])
            improved, self._es_stop = verdict.improved, verdict.stop
        if improved:
            result.best_epoch = epoch
            result.best_value = self.stopper.best if self.stopper is not None else None
            result.best_valid = dict(valid.metrics)
            result.checkpoint = self._save_best(epoch, valid.metrics)
        return improved

    def _validation_due(self, epoch: int) -> bool:
        if self.cfg.eval_every_s is None:
            return epoch % self.cfg.eval_every == 0
        # log-spaced, then linear: after 1, 2, 4, ... seconds of training, then every eval_every_s
        last = self._validated_at
        return self.result.seconds - last >= min(self.cfg.eval_every_s, max(last, 1.0))

    def _stop_reason(self, epoch: int, out_of_time: bool) -> str:
        if self._es_stop:
            return "early_stopping"
        if out_of_time:
            return "time_budget"
        return ""

    def _eta(self, epoch: int) -> float | None:
        done = [h["epoch_seconds"] + h.get("eval_seconds", 0.0) for h in self.result.history]
        per_epoch = sum(done) / len(done) if done else 0.0
        left = per_epoch * (self.cfg.epochs - epoch)
        if self.cfg.time_budget_s:
            left = min(left, max(0.0, self.cfg.time_budget_s - self.result.seconds))
        return left

    # ---- checkpoints and resumable state ----------------------------------
    def _save_best(self, epoch: int, metrics: dict) -> Path:
        path = self.out_dir / "best.ckpt"
        if not self.parallel.is_writer:
            return path
        payload = {"model_state": self.model.state_dict(), "epoch": epoch,
                   "valid_metrics": dict(metrics), **self.checkpoint_extra}
        return save_atomic(payload, path)

    def _save_state(self, in_epoch: _EpochProgress | None = None) -> Path:
        # each process's own streams and component state, gathered to rank 0 (None in one process)
        ranks = self.parallel.gather_state(lambda: self._own_state(in_epoch))
        path = self.out_dir / "last.ckpt"
        if not self.parallel.is_writer:
            return path
        r = self.result
        payload = {
            "format": STATE_FORMAT, "epoch": self.epochs_done, "step": self.global_step,
            "in_epoch": None if in_epoch is None else {
                "perm": in_epoch.perm.cpu(), "position": in_epoch.position, "loss_sum": in_epoch.loss_sum,
                "steps": in_epoch.steps, "seen": in_epoch.seen, "seconds": in_epoch.seconds,
                "phases": dict(in_epoch.phases)},
            "model": self.model.state_dict(),
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "loss": self.loss_fn.state_dict(), "sampler": self.sampler.state_dict(),
            "selector": self.selector.state_dict(), "batching": self.batching.state_dict(),
            "rng": rng.capture(self.generator),
            "early_stopping": None if self.stopper is None else {
                **self.stopper.state_dict(), "stop": bool(self._es_stop)},
            "result": {"history": r.history, "best_epoch": r.best_epoch, "best_value": r.best_value,
                       "best_valid": r.best_valid, "stopped": r.stopped, "seconds": r.seconds,
                       "eval_seconds": r.eval_seconds, "validated_at": self._validated_at,
                       "checkpoint": None if r.checkpoint is None else str(r.checkpoint)},
            **self.checkpoint_extra,
        }
        if ranks is not None:
            payload.update(ranks=ranks, **self.parallel.info())
        return save_atomic(payload, path)

    def _own_state(self, in_epoch: _EpochProgress | None) -> dict:
        """What differs between data-parallel processes: streams, component state, the epoch's loss share."""
        return {"rng": rng.capture(self.step_generator), "sampler": self.sampler.state_dict(),
                "selector": self.selector.state_dict(), "loss": self.loss_fn.state_dict(),
                "loss_sum": None if in_epoch is None else in_epoch.loss_sum}

    def _restore(self, state: dict) -> _EpochProgress | None:
        if state.get("format") != STATE_FORMAT:
            raise TrainingError(f"not a training state ({state.get('format')!r}); cannot resume from it")
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.loss_fn.load_state_dict(state["loss"])
        self.sampler.load_state_dict(state["sampler"])
        self.selector.load_state_dict(state["selector"])
        self.batching.load_state_dict(state.get("batching", {}))
        rng.restore(state["rng"], self.generator)
        if self.stopper is not None and state["early_stopping"] is not None:
            self.stopper.load_state_dict(state["early_stopping"])
            self._es_stop = state["early_stopping"]["stop"]
        saved = state["result"]
        r = self.result
        r.history, r.best_epoch, r.best_value = list(saved["history"]), saved["best_epoch"], saved["best_value"]
        r.best_valid, r.stopped = dict(saved["best_valid"]), saved["stopped"]
        r.seconds, r.eval_seconds = saved["seconds"], saved["eval_seconds"]
        self._validated_at = saved.get("validated_at", 0.0)
        r.checkpoint = None if saved["checkpoint"] is None else self.out_dir / Path(saved["checkpoint"]).name
        self.epochs_done, self.global_step = int(state["epoch"]), int(state["step"])
        own = self.parallel.own_state(state)  # this process's part (None in one process)
        if own is not None:
            rng.restore(own["rng"], self.step_generator)
            self.sampler.load_state_dict(own["sampler"])
            self.selector.load_state_dict(own["selector"])
            self.loss_fn.load_state_dict(own["loss"])
        part = state["in_epoch"]
        if part is None:
            return None
        loss_sum = part["loss_sum"] if own is None else own["loss_sum"]
        return _EpochProgress(part["perm"].to(self.device), part["position"], loss_sum, part["steps"],
                              part["seen"], part["seconds"], dict(part["phases"]))

    def _log_epoch(self, epoch: int, record: dict) -> None:
        log_record(self.tracker, record)


def log_record(tracker: Tracker, record: dict) -> None:
    """An epoch's numbers to the tracker, at step = epoch."""
    metrics = {tracked_name(k): float(v) for k, v in record.items()
               if k != "epoch" and isinstance(v, (int, float))}
    tracker.log_metrics(metrics, step=record["epoch"])

"""The one training loop. Every research idea plugs into a component, never into here.

Per step: encode once -> select positives -> sample negatives -> score ->
loss (+ L2) -> backward -> step. Validation every ``eval_every`` epochs drives
early stopping and the best checkpoint; the test split is never read here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from ..errors import TrainingError
from ..samplers.base import StepContext
from ..tracking.base import NullTracker, Tracker, metric_key
from .checkpoint import save_atomic
from .optim import build_optimizer

# Called after each epoch with (epoch, record): may raise to stop (Optuna pruning).
EpochCallback = Callable[[int, dict], None]
# Called after each epoch with (epoch, trainer) before logging; returns extra metrics
# for the epoch's record (diagnostics such as noise/loss separation).
EpochObserver = Callable[[int, "Trainer"], dict]


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    best_valid: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    stopped: str = "epochs"
    seconds: float = 0.0


class Timer:
    """Accumulates wall time per phase (sampling, forward, backward, eval)."""

    def __init__(self, device: torch.device):
        self.sync = device.type == "cuda"
        self.totals: dict[str, float] = {}

    def add(self, phase: str, since: float) -> float:
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - since
        return now


class Trainer:
    def __init__(self, cfg, data, model, sampler, selector, loss, evaluator, out_dir: Path,
                 device: torch.device, tracker: Tracker | None = None,
                 checkpoint_extra: dict[str, Any] | None = None,
                 callbacks: list[EpochCallback] | None = None,
                 observers: list[EpochObserver] | None = None):
        self.cfg, self.data, self.model = cfg, data, model
        self.sampler, self.selector, self.loss_fn = sampler, selector, loss
        self.evaluator, self.out_dir, self.device = evaluator, Path(out_dir), device
        self.tracker = tracker or NullTracker()
        self.checkpoint_extra = checkpoint_extra or {}
        self.callbacks = list(callbacks or [])
        self.observers = list(observers or [])
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(cfg.seed)
        self.state: dict[str, Any] = {}  # shared scratch space for components across steps
        self.global_step = 0

    # ------------------------------------------------------------------
    def fit(self) -> TrainResult:
        result = TrainResult()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not self.model.trainable:
            result.stopped = "not trainable"
            result.checkpoint = self._save(0, {})
            return result
        users_all, items_all = (t.to(self.device) for t in self.data.train_pairs)
        optimizer = build_optimizer(self.model, self.cfg.optimizer, self.cfg.lr, extra=[self.loss_fn])
        es = self.cfg.early_stopping if self.data.valid is not None else None
        stale, start = 0, time.perf_counter()
        for epoch in range(1, self.cfg.epochs + 1):
            record, out_of_time = self._epoch(epoch, users_all, items_all, optimizer, start)
            if self.data.valid is not None and (epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs
                                                or out_of_time):
                t0 = time.perf_counter()
                valid = self.evaluator.evaluate(self.model, "valid")
                record["eval_seconds"] = time.perf_counter() - t0
                record.update({f"valid_{k}": v for k, v in valid.metrics.items()})
                value = valid.metrics.get(es.metric) if es else None
                if es is None or result.best_value is None or value > result.best_value + es.min_delta:
                    result.best_epoch, stale = epoch, 0
                    if es is not None:
                        result.best_value = value
                    result.best_valid = dict(valid.metrics)
                    result.checkpoint = self._save(epoch, valid.metrics)
                else:
                    stale += 1
            elif self.data.valid is None:
                # No validation split (train+valid merged): the latest model is the result.
                result.best_epoch = epoch
                result.checkpoint = self._save(epoch, {})
            for observe in self.observers:
                record.update(observe(epoch, self) or {})
            result.history.append(record)
            self._log_epoch(epoch, record)
            for cb in self.callbacks:
                cb(epoch, record)
            if es is not None and stale >= es.patience:
                result.stopped = "early_stopping"
                break
            if out_of_time:
                result.stopped = "time_budget"
                break
        result.seconds = time.perf_counter() - start
        return result

    # ------------------------------------------------------------------
    def _epoch(self, epoch, users_all, items_all, optimizer, start) -> tuple[dict, bool]:
        self.model.train()
        ctx = StepContext(self.model, None, self.data, epoch, self.global_step, self.generator, self.state,
                          loss=self.loss_fn, sampler=self.sampler, selector=self.selector)
        self.sampler.on_epoch_start(epoch, ctx)
        self.selector.on_epoch_start(epoch, ctx)
        n = users_all.shape[0]
        bs = self.cfg.batch_size
        perm = torch.randperm(n, generator=self.generator, device=self.device)
        timer = Timer(self.device)
        total, steps, seen = 0.0, 0, 0
        t_epoch = time.perf_counter()
        out_of_time = False
        bar = tqdm(range(0, n, bs), desc=f"epoch {epoch}", unit="batch", leave=False,
                   disable=None if self.cfg.progress else True)
        for lo in bar:
            idx = perm[lo: lo + bs]
            loss = self._step(users_all[idx], items_all[idx], ctx, optimizer, timer)
            if not math.isfinite(loss):
                raise TrainingError(
                    f"training loss became {loss} at epoch {epoch}, step {ctx.step} "
                    f"(lr={self.cfg.lr}); stopped. The last good checkpoint is kept"
                    + (f" at {self.out_dir / 'best.ckpt'}" if (self.out_dir / "best.ckpt").exists() else ""))
            total, steps, seen = total + loss, steps + 1, seen + idx.shape[0]
            if steps % 20 == 0:
                bar.set_postfix(loss=f"{total / steps:.4f}",
                                pos_per_s=f"{seen / (time.perf_counter() - t_epoch):.0f}")
            if self.cfg.time_budget_s and time.perf_counter() - start > self.cfg.time_budget_s:
                out_of_time = True
                break
        bar.close()
        seconds = time.perf_counter() - t_epoch
        record = {"epoch": epoch, "train_loss": total / max(steps, 1), "epoch_seconds": seconds,
                  "positives_per_s": seen / max(seconds, 1e-9), "fraction": seen / n,
                  **{f"time_{k}": v for k, v in timer.totals.items()}}
        return record, out_of_time

    def _step(self, users, positives, ctx: StepContext, optimizer, timer: Timer) -> float:
        t = time.perf_counter()
        enc = self.model.encode()
        self.global_step += 1
        ctx.encoded, ctx.step = enc, self.global_step  # step counts across epochs (schedules)
        positives = self.selector.select(users, positives, ctx)
        negs = self.sampler.sample(users, positives, self.cfg.num_negatives, ctx)
        t = timer.add("sampling", t)
        u = self.model.user_vectors(enc, users)
        pos_scores = self.model.score_vectors(u, self.model.item_vectors(enc, positives))
        neg_scores = self.model.score_vectors(u, self.model.item_vectors(enc, negs.items))
        loss = self.loss_fn(pos_scores, neg_scores, negs.weight, negs.log_q, ctx)
        if self.cfg.l2 > 0:
            touched = torch.cat([positives, negs.items.reshape(-1)])
            loss = loss + self.cfg.l2 * self.model.regularization(users, touched)
        t = timer.add("forward", t)
        optimizer.zero_grad()
        loss.backward()
        t = timer.add("backward", t)
        optimizer.step()
        timer.add("optimizer", t)
        return float(loss.detach())

    # ------------------------------------------------------------------
    def _save(self, epoch: int, metrics: dict) -> Path:
        payload = {"model_state": self.model.state_dict(), "epoch": epoch,
                   "valid_metrics": dict(metrics), **self.checkpoint_extra}
        return save_atomic(payload, self.out_dir / "best.ckpt")

    def _log_epoch(self, epoch: int, record: dict) -> None:
        metrics = {}
        for k, v in record.items():
            if k == "epoch" or not isinstance(v, (int, float)):
                continue
            metrics[metric_key(k)] = float(v)
        self.tracker.log_metrics(metrics, step=epoch)

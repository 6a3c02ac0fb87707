"""One training step, reusable outside the trainer (benchmarks time exactly this).

encode once -> select positives -> sample negatives -> score -> loss (+ L2)
-> backward -> optimiser step. Every draw uses ``step.generator``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..models.base import ModelScorer
from ..step import Step


class PhaseTimer:
    """Accumulates time per phase (encode, sampling, forward, backward, optimizer) on one clock."""

    def __init__(self, device: torch.device | str = "cpu", clock=time.perf_counter):
        self.sync = torch.device(device).type == "cuda"
        self.clock = clock
        self.totals: dict[str, float] = {}

    def add(self, phase: str, since: float) -> float:
        if self.sync:
            torch.cuda.synchronize()
        now = self.clock()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - since
        return now


@dataclass
class StepParts:
    """What a step needs: the model, the three slots, the optimiser and the L2 weight."""

    model: torch.nn.Module
    sampler: object
    selector: object
    loss: torch.nn.Module
    optimizer: object
    l2: float = 0.0


def train_step(parts: StepParts, users: torch.Tensor, positives: torch.Tensor, step: Step,
               timer: PhaseTimer | None = None) -> float:
    """One optimiser step on the batch (users[B], positives[B]); returns the loss value."""
    timer = timer or PhaseTimer()
    model, sampler = parts.model, parts.sampler
    t = timer.clock()
    enc = model.encode()
    t = timer.add("encode", t)
    scorer = ModelScorer(model, enc)
    positives = parts.selector.select(users, positives, step, scorer)
    negs = sampler.sample(users, positives, sampler.num_negatives, step, scorer)
    t = timer.add("sampling", t)
    u = model.user_vectors(enc, users)
    pos_scores = model.score_vectors(u, model.item_vectors(enc, positives))
    neg_v = negs.vectors if negs.vectors is not None else model.item_vectors(enc, negs.items)
    neg_scores = model.score_vectors(u, neg_v)
    loss = parts.loss(pos_scores, neg_scores, negs.weight, negs.log_q, step)
    if parts.l2 > 0:
        touched = torch.cat([positives, negs.items.reshape(-1)])
        loss = loss + parts.l2 * model.regularization(users, touched)
    t = timer.add("forward", t)
    parts.optimizer.zero_grad()
    loss.backward()
    t = timer.add("backward", t)
    parts.optimizer.step()
    timer.add("optimizer", t)
    return float(loss.detach())

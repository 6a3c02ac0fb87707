"""Hooks: one type with named events, for what watches a run without being part of a step.

A hook receives what it needs when it is built (the composition root wires it);
the trainer only announces events. Examples: Optuna pruning (raises at
``epoch_end``), the injected-noise separation diagnostic (adds metrics).
"""
from __future__ import annotations


class Hook:
    def epoch_start(self, epoch: int) -> None:
        """Before the epoch's first step."""

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        """Extra values for the epoch's record, computed after training and validation."""
        return {}

    def epoch_end(self, epoch: int, record: dict) -> None:
        """After the record is complete, saved and logged; may raise to end the run (pruning)."""

    def train_end(self, result) -> None:
        """After the last epoch (not called when the run fails)."""


class Hooks(Hook):
    """Several hooks called in order."""

    def __init__(self, hooks: list[Hook] = ()):
        self.hooks = list(hooks)

    def epoch_start(self, epoch):
        for h in self.hooks:
            h.epoch_start(epoch)

    def epoch_metrics(self, epoch):
        out: dict[str, float] = {}
        for h in self.hooks:
            out.update(h.epoch_metrics(epoch) or {})
        return out

    def epoch_end(self, epoch, record):
        for h in self.hooks:
            h.epoch_end(epoch, record)

    def train_end(self, result):
        for h in self.hooks:
            h.train_end(result)

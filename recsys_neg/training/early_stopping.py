"""Early stopping on one validation metric: ``update`` says whether it improved and whether to stop."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    improved: bool
    stop: bool


class EarlyStopper:
    """Higher is better. ``patience`` evaluations without an improvement above ``min_delta`` stop."""

    def __init__(self, patience: int, min_delta: float = 0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best: float | None = None
        self.stale = 0

    def update(self, value: float) -> Verdict:
        if self.best is None or value > self.best + self.min_delta:
            self.best, self.stale = value, 0
            return Verdict(True, False)
        self.stale += 1
        return Verdict(False, self.stale >= self.patience)

    def state_dict(self) -> dict:
        return {"best": self.best, "stale": self.stale}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.stale = state["best"], int(state["stale"])

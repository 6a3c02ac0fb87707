"""The tracker contract the trainer and pipeline talk to (MLflow or nothing).

``start`` opens a new run; ``resume`` reopens an existing one (a resumed
training, a study's parent run) so its metrics continue where they stopped.
Tags given at construction go on every run the tracker opens.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def flatten_params(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten_params(v, key))
        else:
            out[key] = str(v)
    return out


class Tracker:
    """Receives params once, metrics in batches, artifacts, and the final status."""

    run_id: str | None = None

    def start(self, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> None: ...
    def resume(self, run_id: str) -> None: ...
    def last_step(self, metric: str) -> int | None: return None
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...
    def log_artifact(self, path: str | Path, subdir: str | None = None) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...
    def end(self, status: str = "FINISHED") -> None: ...


class NullTracker(Tracker):
    """Tracking switched off."""

"""What a search returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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

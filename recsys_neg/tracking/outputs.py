"""What a finished run leaves in its folder and sends to the tracker as artifacts."""
from __future__ import annotations

from pathlib import Path

from .base import Tracker
from .plots import plot_learning_curves


def log_run_outputs(tracker: Tracker, out_dir: Path, history: list[dict], checkpoint: Path | None,
                    log_checkpoint: bool = True, plots: bool = True) -> None:
    """config.json, metrics.json, learning_curves.png and (optionally) the best checkpoint."""
    if tracker.run_id is None:  # tracking off: the run folder already has everything
        return
    files = [out_dir / "config.json", out_dir / "metrics.json"]
    if plots:
        png = plot_learning_curves(history, out_dir / "learning_curves.png")
        if png is not None:
            files.append(png)
    for path in files:
        if path.exists():
            tracker.log_artifact(path)
    if log_checkpoint and checkpoint is not None and Path(checkpoint).exists():
        tracker.log_artifact(checkpoint, "checkpoint")

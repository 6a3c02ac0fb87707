"""The run folder: a unique directory, files written atomically, and where the code came from."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

CONFIG_FILE, METRICS_FILE, BEST, LAST = "config.json", "metrics.json", "best.ckpt", "last.ckpt"


def new_run_dir(root: str | Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{name}-{stamp}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


# Keys of a run's config.json that describe the run, not the pipeline: dropped before validation.
RUN_KEYS = ("_base_dir", "world_size")


def read_run_config(path: Path) -> tuple[dict, Path]:
    """A run folder's config.json as (pipeline dict, base folder its relative paths start from)."""
    raw = dict(read_json(path))
    base = Path(raw.get("_base_dir", "."))
    return {k: v for k, v in raw.items() if k not in RUN_KEYS}, base


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"

"""Saved runs: re-evaluate a finished one, or continue one that was interrupted.

Both read only checkpoints loaded with ``weights_only=True`` (tensors and plain
values; nothing that can run code) and refuse data whose fingerprint differs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..config import PipelineConfig, config_from_dict, load_yaml, resolved_dict
from ..errors import ConfigError
from ..training.checkpoint import load_checkpoint
from .assemble import build_parts
from .folder import BEST, CONFIG_FILE, LAST, METRICS_FILE, read_json

# Fields that change how a run is executed, not what it computes: they may differ on resume.
OPERATIONAL = {("train", "progress"), ("train", "threads"), ("train", "device"), ("tracking", "uri"),
               ("train", "sparse_grads")}


def _base_dir(run_dir: Path) -> Path | None:
    cfg_file = run_dir / CONFIG_FILE
    return Path(read_json(cfg_file).get("_base_dir", ".")) if cfg_file.exists() else None


def evaluate_saved(path: str | Path, splits: tuple[str, ...] = ("valid", "test")) -> dict[str, dict]:
    """Re-evaluate a finished run (its folder) or a checkpoint file."""
    path = Path(path)
    ckpt_path = path / BEST if path.is_dir() else path
    ckpt = load_checkpoint(ckpt_path)
    if "config" not in ckpt or "model_state" not in ckpt:
        raise ConfigError(f"{ckpt_path}: not a recsys_neg model checkpoint (no config or model_state)")
    cfg = config_from_dict(dict(ckpt["config"]), str(ckpt_path))
    parts = build_parts(cfg, _base_dir(ckpt_path.parent))
    if parts.data.fingerprint != ckpt.get("data_fingerprint"):
        raise ConfigError(f"{ckpt_path}: the data no longer matches the checkpoint "
                          f"(fingerprint {parts.data.fingerprint} vs {ckpt.get('data_fingerprint')})")
    parts.model.load_state_dict(ckpt["model_state"])
    return {s: parts.evaluator.evaluate(parts.model, s).to_dict()
            for s in splits if parts.data.split(s) is not None}


@dataclass
class ResumePoint:
    run_dir: Path
    cfg: PipelineConfig
    base_dir: Path | None
    state: dict

    def describe(self) -> str:
        s = self.state
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((self.run_dir / LAST).stat().st_mtime))
        where = f"after epoch {s['epoch']} of {self.cfg.train.epochs}"
        if s.get("in_epoch"):
            where += f" and {s['in_epoch']['position']} positives of epoch {s['epoch'] + 1}"
        run = f", mlflow run {s['run_id']}" if s.get("run_id") else ""
        return f"resuming {self.run_dir} from {LAST} (written {when}): {where}, step {s['step']}{run}"


def config_differences(a: dict, b: dict, prefix: tuple = ()) -> list[str]:
    """Dotted paths where two resolved configs differ (operational fields ignored)."""
    out = []
    for key in sorted(set(a) | set(b)):
        path = prefix + (key,)
        if path in OPERATIONAL or key.startswith("_"):
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_differences(va, vb, path)
        elif va != vb:
            out.append(f"{'.'.join(path)}: {va!r} in the run, {vb!r} now")
    return out


def resume_point(run_dir: str | Path, pipeline: str | Path | None = None, overrides: list[str] = ()
                 ) -> ResumePoint:
    """What ``train --resume RUN_DIR`` continues from; refuses a finished run or a changed config.

    Without ``pipeline`` the run's own config is used (``overrides`` may still change
    operational fields such as ``train.threads``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"--resume: {run_dir} is not a run folder")
    if (run_dir / METRICS_FILE).exists():
        raise ConfigError(f"--resume: {run_dir} finished already ({METRICS_FILE} exists); nothing to resume")
    if not (run_dir / LAST).exists():
        raise ConfigError(f"--resume: {run_dir} has no {LAST}: it stopped before its first epoch ended "
                          "(or predates resumable runs); start it again")
    state = load_checkpoint(run_dir / LAST)
    saved = dict(state.get("config") or {})
    if not saved:
        raise ConfigError(f"{run_dir / LAST}: holds no config; cannot resume")
    raw = load_yaml(pipeline) if pipeline is not None else saved
    cfg = config_from_dict(raw, str(pipeline or run_dir / LAST), list(overrides))
    diffs = config_differences(saved, resolved_dict(cfg))
    if diffs:
        raise ConfigError(f"--resume: the config differs from the run's, refusing to resume {run_dir}:\n  "
                          + "\n  ".join(diffs))
    return ResumePoint(run_dir, cfg, _base_dir(run_dir), state)

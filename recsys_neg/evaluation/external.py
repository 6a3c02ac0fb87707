"""Evaluate what was made elsewhere with the engine's own protocol and outputs.

- ``evaluate_recommender(obj, data, split)``: any object with ``ranking()`` (the model
  contract) or ``score(users) -> [B, n_items]`` (``users``: a numpy int64 array of
  internal user indices, the rows of ``data.train``; numpy or torch scores).
- ``evaluate_recommendations(file, data, ...)``: a file of top-K lists (see
  ``recommendations.py``), written out as a run folder: ``config.json``,
  ``metrics.json`` (with ``protocol`` and a ``recommendations`` report) and
  ``<split>_per_user.csv``, so ``recsys-neg compare`` takes it next to the engine's runs.

``data`` is an ``Interactions``, a pipeline YAML (its ``data`` and ``eval`` sections are
used) or a run folder (its ``config.json``; refused if the data no longer matches the
fingerprint in its ``metrics.json``). The same evaluator class, masks and metric
functions as a training run's test are used: only the ranker differs.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from ..config import PipelineConfig, config_from_dict, load_config, resolved_dict
from ..data import Interactions, build_interactions
from ..errors import ConfigError
from ..models.base import Ranker
from ..runs.folder import CONFIG_FILE, METRICS_FILE, new_run_dir, read_json, read_run_config, write_json
from .evaluator import EvalResult, Evaluator
from .recommendations import RecommendationsReport, read_recommendations


class RecommendationsWarning(UserWarning):
    """Something in a recommendations file was left out or masked (reported, never silent)."""


def load_data(source: str | Path | Interactions, overrides: Iterable[str] = ()
              ) -> tuple[PipelineConfig, Interactions, Path | None]:
    """(config, data, base folder) from a pipeline file or a run folder (``overrides`` as ``--set``)."""
    if isinstance(source, Interactions):
        return config_from_dict({}, "<defaults>", list(overrides)), source, None
    path = Path(source)
    if path.is_dir():
        cfg_file = path / CONFIG_FILE
        if not cfg_file.is_file():
            raise ConfigError(f"--data {path}: a folder must be a run folder with {CONFIG_FILE}")
        raw, base = read_run_config(cfg_file)
        cfg = config_from_dict(raw, str(cfg_file), list(overrides))
        data = build_interactions(cfg.data, base_dir=base)
        meta = path / METRICS_FILE
        saved = (read_json(meta).get("data") or {}).get("fingerprint") if meta.is_file() else None
        if saved and saved != data.fingerprint:
            raise ConfigError(f"--data {path}: the data no longer matches the run (fingerprint {data.fingerprint} "
                              f"now, {saved} in its {METRICS_FILE})")
        return cfg, data, base
    if path.is_file():
        cfg = load_config(path, list(overrides))
        base = path.resolve().parent
        return cfg, build_interactions(cfg.data, base_dir=base), base
    raise ConfigError(f"--data {path}: neither a pipeline file nor a run folder")


class ScoreFunction:
    """``score(users) -> [B, n_items]`` seen through the ranking contract."""

    def __init__(self, obj: Any):
        self.obj = obj

    def _rank(self, users: torch.Tensor) -> torch.Tensor:
        scores = self.obj.score(users.cpu().numpy())
        return scores if isinstance(scores, torch.Tensor) else torch.from_numpy(np.asarray(scores))

    @contextmanager
    def ranking(self):
        yield Ranker(self._rank, torch.device("cpu"))


def as_ranker(obj: Any) -> Any:
    if hasattr(obj, "ranking"):
        return obj
    if callable(getattr(obj, "score", None)):
        return ScoreFunction(obj)
    raise TypeError(f"{type(obj).__name__} has neither ranking() nor score(users); cannot evaluate it")


def evaluate_recommender(obj: Any, data: str | Path | Interactions, split: str = "test", *,
                         ks: Iterable[int] | None = None, metrics: Iterable[str] | None = None,
                         batch_size: int | None = None, beyond_accuracy: Any = None,
                         sampled: Any = None) -> EvalResult:
    """Full-ranking evaluation of ``obj`` with the engine's masks; unset options come from the
    pipeline's ``eval`` section (or the defaults when ``data`` is an ``Interactions``)."""
    ranker = as_ranker(obj)
    cfg, interactions, _ = load_data(data)
    ev = cfg.eval
    evaluator = Evaluator(interactions, ks=ev.ks if ks is None else ks,
                          metrics=ev.metrics if metrics is None else metrics,
                          batch_size=batch_size or ev.batch_size,
                          beyond_accuracy=ev.beyond_accuracy if beyond_accuracy is None else beyond_accuracy,
                          sampled=ev.sampled if sampled is None else sampled)
    return evaluator.evaluate(ranker, split)


@dataclass
class RecommendationsRun:
    result: EvalResult
    report: RecommendationsReport
    out_dir: Path | None


def protocol(data: Interactions, split: str) -> dict:
    masked = ["train"] + (["valid"] if split == "test" and data.valid is not None else [])
    return {"split": split, "ranking": "full", "masked": masked}


def evaluate_recommendations(path: str | Path, data: str | Path | Interactions, split: str = "test", *,
                             out_dir: str | Path | None = None, write: bool = True,
                             overrides: Iterable[str] = (), order: str = "auto", strict: bool = False
                             ) -> RecommendationsRun:
    """Evaluate a recommendations file; unless ``write=False``, write it out as a run folder."""
    cfg, interactions, base = load_data(data, overrides)
    if interactions.split(split) is None:
        raise ConfigError(f"the data {interactions.name!r} has no {split} split to evaluate on")
    ranker, report = read_recommendations(path, interactions, split, order=order, strict=strict)
    for line in report.warnings():
        warnings.warn(line, RecommendationsWarning, stacklevel=2)
    if cfg.eval.sampled is not None:
        warnings.warn("eval.sampled is ignored for a recommendations file: a top-K list has no scores for the "
                      "items outside it to rank sampled items by", RecommendationsWarning, stacklevel=2)
    evaluator = Evaluator(interactions, ks=cfg.eval.ks, metrics=cfg.eval.metrics, batch_size=cfg.eval.batch_size,
                          beyond_accuracy=cfg.eval.beyond_accuracy)
    if report.longest_list < evaluator.kmax:
        warnings.warn(f"{path}: the longest list has {report.longest_list} items, fewer than K={evaluator.kmax}; "
                      "metrics at that K count the missing places as misses", RecommendationsWarning, stacklevel=2)
    result = evaluator.evaluate(ranker, split)
    listed = np.diff(ranker.matrix.indptr)[result.users]
    report.evaluated_users_without_list = int((listed == 0).sum())
    if not write:
        return RecommendationsRun(result, report, None)
    out = Path(out_dir) if out_dir is not None else new_run_dir(cfg.output_dir, f"recommendations-{Path(path).stem}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG_FILE, {**resolved_dict(cfg), "_base_dir": str(base or Path.cwd())})
    result.per_user_frame().to_csv(out / f"{split}_per_user.csv", index=False)
    body = result.to_dict()
    write_json(out / METRICS_FILE, {
        "name": f"recommendations:{Path(path).name}", "data": interactions.summary(), split: result.metrics,
        "protocol": protocol(interactions, split), "recommendations": report.to_dict(),
        **{k: body[k] for k in ("beyond_accuracy",) if k in body}})
    return RecommendationsRun(result, report, out)


__all__ = ["RecommendationsRun", "RecommendationsWarning", "ScoreFunction", "evaluate_recommendations", "evaluate_recommender", "load_data"]

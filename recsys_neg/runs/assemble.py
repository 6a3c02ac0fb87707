"""The composition root: the one place that builds the parts of a run and wires them together.

Order matters for honesty: the config was validated at load; here the data is
checked against it (K vs catalogue, negatives vs what exclusion leaves), all
before training. A part that needs another part names it in its constructor
(``model=`` for a sampler refreshing from the model, ``loss=``/``sampler=``
for PLD); the registries pass exactly those.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..batching import BATCHING
from ..config import PipelineConfig
from ..data import Interactions, build_interactions
from ..errors import ConfigError
from ..evaluation import Evaluator
from ..losses import LOSSES
from ..models import MODELS
from ..positives import POSITIVES
from ..samplers import SAMPLERS
from .runtime import configure_threads, resolve_device, seed_everything


@dataclass
class Parts:
    data: Interactions
    model: Any
    sampler: Any
    selector: Any
    loss: Any
    evaluator: Evaluator
    device: torch.device
    batching: Any = None


def check_negatives(params, data: Interactions, path: str = "sampler") -> None:
    """A count that exclusion makes impossible fails now, not minutes into an epoch."""
    num = getattr(params, "num_negatives", None)
    if num is None:
        return
    degree = np.diff(data.train.indptr)
    if getattr(params, "exclude_positives", False) and len(degree):
        user = int(degree.argmax())
        free = data.n_items - int(degree[user])
        if num > free:
            raise ConfigError(
                f"{path}.num_negatives={num}: with exclude_positives the negatives of a user are drawn from "
                f"the items it has not interacted with; user {data.user_ids[user]!r} has only {free} such items "
                f"({data.n_items} items, {degree[user]} of them its training positives), so its negatives "
                f"would have to repeat. Lower {path}.num_negatives to at most {free}, or set "
                f"{path}.exclude_positives: false (negatives are then drawn with replacement from all items).")
    elif num > data.n_items:
        warnings.warn(f"{path}.num_negatives={num} is more than the {data.n_items} items: negatives are drawn "
                      "with replacement, so every row repeats items", stacklevel=2)


def check_against_data(cfg: PipelineConfig, data: Interactions) -> None:
    if max(cfg.eval.ks) > data.n_items:
        raise ConfigError(f"eval.ks: K={max(cfg.eval.ks)} is larger than the number of items "
                          f"({data.n_items}) in {data.name}")
    if data.n_train == 0:
        raise ConfigError(f"data: the training split of {data.name} is empty")
    check_negatives(cfg.sampler, data)


def build_parts(cfg: PipelineConfig, base_dir: Path | None = None, df=None,
                data: Interactions | None = None) -> Parts:
    device = resolve_device(cfg.train.device)
    configure_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    data = data if data is not None else build_interactions(cfg.data, base_dir=base_dir, df=df)
    check_against_data(cfg, data)
    model = MODELS.build(cfg.model, data=data).to(device)
    sampler = SAMPLERS.build(cfg.sampler, data=data, device=device, model=model)
    loss = LOSSES.build(cfg.loss, data=data).to(device)
    selector = POSITIVES.build(cfg.positives, data=data, device=device, loss=loss, sampler=sampler)
    batching = BATCHING.build(cfg.batching, data=data, device=device, model=model)
    evaluator = Evaluator(data, ks=cfg.eval.ks, metrics=cfg.eval.metrics,
                          batch_size=cfg.eval.batch_size, device=device)
    return Parts(data, model, sampler, selector, loss, evaluator, device, batching)

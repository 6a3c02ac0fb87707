"""The pipeline schema: one validated description of a whole run.

Sections for components (model, sampler, positives, loss) are ``{name: ...,
<that component's parameters>}``; the parameters are checked against the
component's own ``Params`` model, so a typo anywhere fails before training
with the path of the field.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .data.config import DataConfig
from .errors import ConfigError
from .registry import format_validation_error
from .tuning.config import TuningConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component(BaseModel):
    """``name`` plus free-form parameters, validated later by the named component."""

    model_config = ConfigDict(extra="allow")
    name: str

    def values(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class EarlyStopping(Strict):
    metric: str = "recall@20"
    patience: int = Field(5, ge=1, description="evaluations without improvement before stopping")
    min_delta: float = 0.0


class TrainConfig(Strict):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(2048, ge=1)
    num_negatives: int = Field(1, ge=1)
    optimizer: Literal["adam", "sgd", "adagrad"] = "adam"
    lr: float = Field(1e-3, gt=0)
    l2: float = Field(1e-4, ge=0, description="weight of the batch embeddings' squared L2 norm")
    eval_every: int = Field(1, ge=1)
    early_stopping: EarlyStopping | None = EarlyStopping()
    time_budget_s: float | None = Field(None, gt=0, description="stop after the epoch that passes it")
    seed: int = 42
    device: str = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")
    progress: bool = True


class EvalConfig(Strict):
    ks: list[int] = [10, 20, 50]
    metrics: list[str] = ["recall", "ndcg", "precision", "hit", "mrr", "map"]
    batch_size: int = Field(4096, ge=1)
    test: bool = Field(True, description="evaluate the test split once, after training")

    @field_validator("ks")
    @classmethod
    def _positive(cls, ks: list[int]) -> list[int]:
        if not ks or min(ks) < 1:
            raise ValueError("ks must be a non-empty list of positive integers")
        return sorted(set(ks))


class TrackingConfig(Strict):
    enabled: bool = True
    uri: str | None = Field(None, description="default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db")
    experiment: str = "recsys_neg"
    run_name: str | None = None
    log_checkpoint: bool = Field(True, description="upload the best checkpoint as an artifact")
    plots: bool = Field(True, description="learning-curve PNG as an artifact")


class PipelineConfig(Strict):
    name: str = "pipeline"
    data: DataConfig = DataConfig()
    model: Component = Component(name="mf")
    sampler: Component = Component(name="uniform")
    positives: Component = Component(name="all")
    loss: Component = Component(name="bpr")
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    tracking: TrackingConfig = TrackingConfig()
    output_dir: str = "runs"
    tuning: TuningConfig | None = None


COMPONENT_SECTIONS = ("model", "sampler", "positives", "loss")


def _registries():
    from .losses import LOSSES
    from .models import MODELS
    from .positives import POSITIVES
    from .samplers import SAMPLERS

    return {"model": MODELS, "sampler": SAMPLERS, "positives": POSITIVES, "loss": LOSSES}


def component_params(cfg: PipelineConfig, section: str):
    comp: Component = getattr(cfg, section)
    return _registries()[section].params(comp.name, comp.values(), section)


def validate_components(cfg: PipelineConfig) -> None:
    for section in COMPONENT_SECTIONS:
        component_params(cfg, section)


def resolved_dict(cfg: PipelineConfig) -> dict[str, Any]:
    """The config with every default filled in, component parameters included."""
    out = cfg.model_dump(mode="json")
    for section in COMPONENT_SECTIONS:
        out[section] = {"name": getattr(cfg, section).name,
                        **component_params(cfg, section).model_dump(mode="json")}
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def set_path(tree: dict, path: list[str], value: Any) -> dict:
    node = tree
    for p in path[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {'.'.join(path)}: {p} is not a section")
        node = nxt
    node[path[-1]] = value
    return tree


def config_from_dict(raw: dict, source: str = "<config>", overrides: list[str] = ()) -> PipelineConfig:
    raw = copy.deepcopy(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    for section in COMPONENT_SECTIONS:  # so "--set model.x=1" keeps the default model
        if overrides and section not in raw:
            raw.setdefault(section, {"name": getattr(PipelineConfig(), section).name})
    for o in overrides:
        path, value = parse_override(o)
        set_path(raw, path, value)
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid pipeline\n" + format_validation_error(err)) from None
    try:
        validate_components(cfg)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return cfg


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pipeline file not found: {path}")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from None


def load_config(path: str | Path, overrides: list[str] = ()) -> PipelineConfig:
    return config_from_dict(load_yaml(path), str(path), overrides)

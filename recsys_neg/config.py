"""The pipeline schema: one validated description of a whole run.

Component sections (model, sampler, positives, loss, batching) are ``{name: ...,
<that component's parameters>}`` and are validated once, at load, into the
component's own typed ``Params``: a typo anywhere fails before training with
the path of the field, and constructors receive the typed object.

Loading is two-phase so that a mistake outside the component sections (YAML,
an override, ``train``/``eval``/``data``) is reported before torch is
imported; the component registries (torch modules) are read only after that.

``--set section.name=X`` switches a component: the section is replaced by X's
defaults, keeping only the keys that mean the same for X (fields both
components inherit from one declaration, such as ``embedding_dim`` from MF to
LightGCN or ``num_negatives`` between samplers).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, model_validator
from typing_extensions import Annotated

from .data.config import DataConfig
from .errors import ConfigError
from .evaluation.options import BeyondAccuracyOptions, SampledOptions, optional_section
from .lr_schedule import LRSchedule
from .metric_key import MetricField, MetricKey
from .registry import Params, Registry, format_validation_error, lazy_component_field

COMPONENT_SECTIONS = ("model", "sampler", "positives", "loss", "batching")
DEFAULT_COMPONENTS = {"model": "mf", "sampler": "uniform", "positives": "all", "loss": "bpr", "batching": "shuffle"}


def registries() -> dict[str, Registry]:
    """Section -> registry. Imports the component packages (and torch)."""
    from .batching.base import BATCHING
    from .losses.base import LOSSES
    from .models.base import MODELS
    from .positives.base import POSITIVES
    from .samplers.base import SAMPLERS

    return {"model": MODELS, "sampler": SAMPLERS, "positives": POSITIVES, "loss": LOSSES, "batching": BATCHING}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EarlyStopping(Strict):
    metric: MetricField = MetricKey("recall", 20)
    patience: int = Field(5, ge=1, description="evaluations without improvement before stopping")
    min_delta: float = 0.0


class TrainConfig(Strict):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(2048, ge=1)
    optimizer: Literal["adam", "sgd", "adagrad"] = "adam"
    lr: float = Field(1e-3, gt=0)
    lr_schedule: LRSchedule | None = Field(
        None, description="{name: cosine|linear, horizon_epochs, final_fraction, warmup_epochs}; "
                          "none: a constant rate")
    l2: float = Field(1e-4, ge=0, description="weight of the batch embeddings' squared L2 norm")
    eval_every: int = Field(1, ge=1)
    eval_every_s: float | None = Field(
        None, gt=0, description="validate by training time instead of epochs: after 1, 2, 4, ... seconds of "
                                "training, then every N seconds (learning curves against time)")
    early_stopping: EarlyStopping | None = EarlyStopping()
    time_budget_s: float | None = Field(None, gt=0, description="stop after the epoch that passes it")
    budget_clock: Literal["wall", "cpu"] = Field(
        "wall", description="what time_budget_s, eval_every_s and epoch_seconds count: wall time, or this "
                            "process's CPU time (fair comparisons at one thread on a shared machine)")
    checkpoint_every_steps: int | None = Field(
        None, ge=1, description="also write the resumable state every N steps (always at each epoch end)")
    seed: int = 42
    device: str = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: chosen from the CPUs "
                                                         "this process may use and the machine's load)")
    progress: bool = True
    sparse_grads: Literal["gather", "dense"] = Field(
        "gather", description="under torchrun: sum sparse embedding gradients by all-gathering the touched rows, "
                              "or by all-reducing the whole table (docs/distributed.md)")

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and "num_negatives" in data:
            raise ValueError("num_negatives moved to the sampler: write sampler.num_negatives "
                             "(only the sampler uses it)")
        return data


class EvalConfig(Strict):
    ks: list[int] = [10, 20, 50]
    metrics: list[str] = ["recall", "ndcg", "precision", "hit", "mrr", "map"]
    batch_size: int = Field(4096, ge=1)
    test: bool = Field(True, description="evaluate the test split once, after training")
    beyond_accuracy: Annotated[BeyondAccuracyOptions | None, BeforeValidator(optional_section)] = Field(
        None, description="true or {head_share, buckets}: catalogue-level metrics of the test top-K lists")
    sampled: Annotated[SampledOptions | None, BeforeValidator(optional_section)] = Field(
        None, description="{negatives, seed}: also sampled metrics on the test split, labelled sampled<N>_")

    @model_validator(mode="after")
    def _cutoffs(self) -> "EvalConfig":
        if not self.ks or min(self.ks) < 1:
            raise ValueError("ks must be a non-empty list of positive integers")
        if not self.metrics:
            raise ValueError("metrics must not be empty")
        self.ks = sorted(set(self.ks))
        return self

    def keys(self) -> list[MetricKey]:
        return [MetricKey(m, k) for m in self.metrics for k in self.ks]


class TrackingConfig(Strict):
    enabled: bool = True
    uri: str | None = Field(None, description="default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db")
    experiment: str = "recsys_neg"
    run_name: str | None = None
    log_checkpoint: bool = Field(True, description="upload the best checkpoint as an artifact")
    plots: bool = Field(True, description="learning-curve PNG as an artifact")


def _component_field(section: str):
    """A section typed by its registry, looked up when the pipeline is validated (phase two)."""
    return lazy_component_field(lambda: registries()[section])


class PipelineConfig(Strict):
    name: str = "pipeline"
    data: DataConfig = DataConfig()
    model: _component_field("model") = Field(default_factory=lambda: {"name": "mf"}, validate_default=True)
    sampler: _component_field("sampler") = Field(default_factory=lambda: {"name": "uniform"},
                                                 validate_default=True)
    positives: _component_field("positives") = Field(default_factory=lambda: {"name": "all"},
                                                     validate_default=True)
    loss: _component_field("loss") = Field(default_factory=lambda: {"name": "bpr"}, validate_default=True)
    batching: _component_field("batching") = Field(default_factory=lambda: {"name": "shuffle"},
                                                   validate_default=True)
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    tracking: TrackingConfig = TrackingConfig()
    output_dir: str = "runs"
    # Read by ``recsys-neg tune`` (recsys_neg.tuning); training ignores it.
    tuning: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> "PipelineConfig":
        from .evaluation.metrics import METRICS

        unknown = [m for m in self.eval.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"eval.metrics: unknown {', '.join(map(repr, unknown))}; "
                             f"valid metrics are: {', '.join(METRICS.names())}")
        es = self.train.early_stopping
        if es is not None and es.metric not in self.eval.keys():
            raise ValueError(f"train.early_stopping.metric: {es.metric} is not computed; eval computes "
                             f"{', '.join(map(str, self.eval.keys()))}")
        return self

    def component(self, section: str) -> str:
        return registries()[section].name_of(getattr(self, section))


# Phase one: the same schema with component sections as plain ``{name: ...}`` mappings.
class _ComponentSketch(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


_Sketch = create_model(
    "PipelineSketch", __base__=Strict,
    **{name: (f.annotation, f) for name, f in PipelineConfig.model_fields.items()
       if name not in COMPONENT_SECTIONS},
    **{s: (_ComponentSketch, _ComponentSketch(name=DEFAULT_COMPONENTS[s])) for s in COMPONENT_SECTIONS})


def resolved_dict(cfg: PipelineConfig) -> dict[str, Any]:
    """The config with every default filled in, component parameters included."""
    return cfg.model_dump(mode="json")


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


def switch_component(raw: dict, section: str, name: Any) -> None:
    """Set ``raw[section]`` to component ``name``: its defaults plus the keys that carry over."""
    current = raw.get(section)
    current = current if isinstance(current, dict) else {"name": DEFAULT_COMPONENTS[section]}
    old = current.get("name", DEFAULT_COMPONENTS[section])
    if old == name:
        return
    keep = registries()[section].carried_keys(old, name, current) if isinstance(name, str) else []
    raw[section] = {"name": name, **{k: current[k] for k in keep}}


def apply_overrides(raw: dict, overrides: list[str] = ()) -> dict:
    """``raw`` with ``--set`` overrides applied; component switches first, then field values."""
    raw = copy.deepcopy(raw or {})
    parsed = [parse_override(o) for o in overrides]
    for path, value in parsed:
        if len(path) == 2 and path[0] in COMPONENT_SECTIONS and path[1] == "name":
            switch_component(raw, path[0], value)
    for path, value in parsed:
        if not (len(path) == 2 and path[0] in COMPONENT_SECTIONS and path[1] == "name"):
            if path[0] in COMPONENT_SECTIONS and len(path) > 1 and raw.get(path[0]) is None:
                raw[path[0]] = {"name": DEFAULT_COMPONENTS[path[0]]}  # "--set model.x=1" keeps the default model
            set_path(raw, path, value)
    return raw


def config_from_dict(raw: dict, source: str = "<config>", overrides: list[str] = ()) -> PipelineConfig:
    if not isinstance(raw, dict) and raw is not None:
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    raw = apply_overrides(raw, list(overrides))
    for model in (_Sketch, PipelineConfig):  # the first needs no torch
        try:
            cfg = model.model_validate(raw)
        except ValidationError as err:
            raise ConfigError(f"{source}: invalid pipeline\n" + format_validation_error(err)) from None
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


__all__ = ["PipelineConfig", "TrainConfig", "EvalConfig", "TrackingConfig", "EarlyStopping", "Params",
           "apply_overrides", "config_from_dict", "load_config", "load_yaml", "resolved_dict"]

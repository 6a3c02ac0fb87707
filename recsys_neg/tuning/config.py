"""The ``tuning:`` section of a pipeline: what to optimise and over which fields.

``space`` maps dotted pipeline paths (the same paths as ``--set``) to a
distribution; ``when`` makes a parameter conditional on values drawn earlier::

    tuning:
      metric: recall@20            # read on the validation split, never test
      space:
        train.num_negatives: {type: int, low: 1, high: 2000, log: true}
        sampler.name: {type: categorical, choices: [uniform, popularity]}
        sampler.alpha: {type: float, low: 0.0, high: 1.0, when: {sampler.name: popularity}}

A ``when`` value may be a list (any of). Conditions may only name parameters
declared above them, so the draw order is the declaration order.

The core pipeline schema keeps ``tuning:`` as an opaque mapping; this module
alone gives it a shape (``recsys-neg tune`` validates it before any trial).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..metric_key import MetricField, MetricKey


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamSpec(_Strict):
    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Any] | None = None
    when: dict[str, Any] | None = Field(None, description="draw only if these earlier parameters match")

    @model_validator(mode="after")
    def _shape(self) -> "ParamSpec":
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("a categorical parameter takes 'choices' only (no low/high/log/step)")
            return self
        if self.choices is not None:
            raise ValueError(f"an {self.type} parameter takes low/high, not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} parameter needs 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("'step' cannot be combined with 'log'")
        if self.type == "int":
            for name in ("low", "high", "step"):
                v = getattr(self, name)
                if v is not None and float(v) != int(v):
                    raise ValueError(f"an int parameter needs an integer '{name}' (got {v})")
        return self

    def conditions(self) -> dict[str, list[Any]]:
        return {k: v if isinstance(v, list) else [v] for k, v in (self.when or {}).items()}

    def active(self, drawn: dict[str, Any]) -> bool:
        return all(k in drawn and drawn[k] in vals for k, vals in self.conditions().items())


class TuningConfig(_Strict):
    metric: MetricField = Field(MetricKey("recall", 20), description="validation metric to optimise, e.g. ndcg@20")
    direction: Literal["maximize", "minimize"] = "maximize"
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    storage: str = Field("sqlite:///optuna.db", description="Optuna RDB URL, shared by workers")
    study: str | None = Field(None, description="study name; default: the pipeline's name")
    seed: int | None = Field(None, description="seed of the Optuna sampler (worker i uses seed + i)")
    startup_trials: int = Field(5, ge=0, description="trials before TPE models and the pruner acts")
    warmup_epochs: int = Field(1, ge=0, description="epochs of a trial that are never pruned")
    timeout_s: float | None = Field(None, gt=0, description="stop starting new trials after this")
    # A worker that dies (SIGKILL, a lost machine) stops beating; after grace_s its trial is
    # marked FAIL by the next worker to start a trial and re-queued with the same parameters.
    heartbeat_s: int | None = Field(30, ge=1, description="seconds between a running trial's heartbeats")
    grace_s: int | None = Field(None, ge=1, description="silence before a trial counts as dead "
                                                        "(default: 2 x heartbeat_s)")
    max_retries: int = Field(2, ge=0, description="re-runs of a trial whose worker died")
    space: dict[str, ParamSpec] = Field(..., min_length=1)

    @field_validator("space")
    @classmethod
    def _conditions_refer_upwards(cls, space: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        seen: dict[str, ParamSpec] = {}
        for path, spec in space.items():
            parts = path.split(".")
            if not path or any(not p for p in parts):
                raise ValueError(f"{path!r} is not a dotted field path like 'train.lr'")
            if parts[0] == "tuning":
                raise ValueError(f"{path}: the tuning section itself cannot be searched")
            for dep, values in spec.conditions().items():
                if dep not in seen:
                    raise ValueError(f"{path}.when: {dep!r} must be a parameter declared above it")
                if seen[dep].type == "categorical":
                    missing = [v for v in values if v not in seen[dep].choices]
                    if missing:
                        raise ValueError(f"{path}.when: {missing} not among the choices of {dep}")
            seen[path] = spec
        return space

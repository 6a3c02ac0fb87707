"""The temperature of the softmax-family losses: fixed, learnable, or scheduled over steps.

``temperature: 0.1`` is a fixed value. The long form selects a mode:

- ``{mode: learnable, value: 0.1, min: 0.01, max: 1.0}``: log t is a parameter trained with
  the model (CLIP's learnable logit scale, Radford et al. 2021, parametrised the same way),
  clamped to [min, max] when used, so a run cannot collapse the softmax to a max;
- ``{mode: schedule, value: 1.0, end: 0.1, steps: 5000, shape: cosine}``: t moves from
  ``value`` to ``end`` over the first ``steps`` training steps (linear, cosine or
  exponential), then stays at ``end``. It reads the global step the trainer hands every
  loss call, so a resumed run continues the schedule where it stopped.

Losses sharing this declaration (softmax, decoupled, debiased, hard_infonce) keep the
temperature when ``--set loss.name=...`` switches between them, and report the value in
use through ``diagnostics()`` (logged per epoch).
"""
from __future__ import annotations

import math
from typing import Literal, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from typing_extensions import Annotated

from ..registry import Params
from ..step import Step
from .base import Loss


class TemperatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["fixed", "learnable", "schedule"] = "fixed"
    value: float = Field(1.0, gt=0, description="fixed value; learnable start; schedule start")
    end: float | None = Field(None, gt=0, description="schedule: value reached after `steps` steps")
    steps: int = Field(1000, ge=1, description="schedule: length in training steps")
    shape: Literal["linear", "cosine", "exponential"] = "linear"
    min: float = Field(0.01, gt=0, description="learnable: lower clamp")
    max: float = Field(10.0, gt=0, description="learnable: upper clamp")

    @model_validator(mode="after")
    def _consistent(self):
        if self.mode == "schedule" and self.end is None:
            raise ValueError("a schedule needs `end` (the temperature after `steps` steps)")
        if self.mode == "learnable" and not self.min <= self.value <= self.max:
            raise ValueError(f"learnable: value {self.value} must lie within [min, max] = [{self.min}, {self.max}]")
        return self


TemperatureField = Union[Annotated[float, Field(gt=0)], TemperatureSpec]


class TemperatureParams(Params):
    """Declared once for every loss with a softmax temperature (so switching losses keeps it)."""

    temperature: TemperatureField = 1.0


def as_spec(value: float | TemperatureSpec) -> TemperatureSpec:
    return value if isinstance(value, TemperatureSpec) else TemperatureSpec(value=float(value))


class Temperature(nn.Module):
    """``tau()`` -> the temperature now (a tensor with gradient when learnable, else a float)."""

    def __init__(self, value: float | TemperatureSpec):
        super().__init__()
        self.spec = as_spec(value)
        self.step = 0
        if self.spec.mode == "learnable":
            self.log_t = nn.Parameter(torch.tensor(math.log(self.spec.value)))

    def at(self, step: Step | None) -> None:
        if step is not None:
            self.step = step.step

    def scheduled(self, step: int) -> float:
        s = self.spec
        p = min(max(step, 0) / s.steps, 1.0)
        if s.shape == "linear":
            return s.value + (s.end - s.value) * p
        if s.shape == "cosine":
            return s.end + (s.value - s.end) * 0.5 * (1.0 + math.cos(math.pi * p))
        return s.value * (s.end / s.value) ** p

    def forward(self) -> torch.Tensor | float:
        if self.spec.mode == "learnable":
            return self.log_t.exp().clamp(self.spec.min, self.spec.max)
        if self.spec.mode == "schedule":
            return self.scheduled(self.step)
        return self.spec.value

    def current(self) -> float:
        t = self()
        return float(t.detach()) if isinstance(t, torch.Tensor) else float(t)


class TemperedLoss(Loss):
    """A loss with a ``Temperature``: the step reaches it before ``per_example`` runs."""

    def __init__(self, data, params: TemperatureParams):
        super().__init__(data, params)
        self.tau = Temperature(params.temperature)

    def forward(self, pos, neg, weight=None, log_q=None, step: Step | None = None) -> torch.Tensor:
        self.tau.at(step)
        return self.per_example(pos, neg, weight, log_q).mean()

    def diagnostics(self) -> dict[str, float]:
        return {"temperature": self.tau.current()}

"""Learning-rate schedules: the rate as a pure function of the global step.

Stateless by design: a resumed run restores the step and so the rate, and the
select run of a time-to-quality comparison (train -> valid, many epochs) and
its final run (train+valid, fewer epochs) follow the same rate epoch by epoch,
because the horizon is pinned in the schedule, not taken from ``train.epochs``.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LRSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["constant", "cosine", "linear"] = "cosine"
    horizon_epochs: float = Field(
        ..., gt=0, description="epochs over which the rate decays from lr to lr * final_fraction; "
                               "held there afterwards")
    final_fraction: float = Field(0.0, ge=0, le=1, description="the last rate as a fraction of train.lr")
    warmup_epochs: float = Field(0.0, ge=0, description="linear ramp from 0 over the first epochs")


def lr_factor(schedule: LRSchedule | None, step: int, steps_per_epoch: int) -> float:
    """Multiplier of ``train.lr`` for the 1-based global ``step``."""
    if schedule is None or schedule.name == "constant":
        return 1.0
    epoch = (step - 1) / max(steps_per_epoch, 1)  # epochs completed before this step
    if schedule.warmup_epochs and epoch < schedule.warmup_epochs:
        return (epoch + 1 / max(steps_per_epoch, 1)) / schedule.warmup_epochs
    p = min(epoch / schedule.horizon_epochs, 1.0)
    shape = 0.5 * (1 + math.cos(math.pi * p)) if schedule.name == "cosine" else 1 - p
    return schedule.final_fraction + (1 - schedule.final_fraction) * shape

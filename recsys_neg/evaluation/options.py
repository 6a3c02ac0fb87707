"""Optional parts of an evaluation, as config sections (no torch here: the config imports this).

``eval.beyond_accuracy: true`` (or ``{head_share: 0.2, buckets: 3}``) adds catalogue-level
metrics of the top-K lists (``recsys_neg.evaluation.beyond``); ``eval.sampled: {negatives:
100, seed: 0}`` adds sampled metrics, labelled ``sampled100_...`` (``recsys_neg.evaluation.sampled``).
Both are off by default and computed on the test split only (never at each validation).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _true_means_defaults(cls, data: Any) -> Any:
        return {} if data is True else data


class BeyondAccuracyOptions(_Options):
    head_share: float = Field(
        0.2, gt=0, lt=1, description="the head: the most popular training items that together hold this share "
                                     "of the training interactions; long_tail@K counts recommendations outside it")
    buckets: int = Field(3, ge=1, le=100, description="item-popularity buckets of equal training-interaction "
                                                       "mass for recall_pop<b>@K (1 = most popular)")


class SampledOptions(_Options):
    negatives: int = Field(100, ge=1, description="sampled items each relevant item is ranked against")
    seed: int = 0


def optional_section(value: Any) -> Any:
    """``false``/``null`` -> off; ``true`` -> the section's defaults (a pydantic 'before' hook)."""
    return None if value is False else value


__all__ = ["BeyondAccuracyOptions", "SampledOptions", "optional_section"]

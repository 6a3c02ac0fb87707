"""Samplers inside another sampler's parameters (mixed parts, a wrapped base).

A nested sampler is written like a section, ``{name: dns, candidates: 32}``,
and typed by the same registry, so its errors carry the full path
(``sampler.parts.0.candidates``). Its count comes from the outer sampler.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from ..registry import Params
from .base import SAMPLERS

NestedSampler = SAMPLERS.field()


def without_own_count(params: Params, path: str, owner: str) -> Params:
    """A nested sampler draws the count its owner gives it; its own would be silently ignored."""
    if "num_negatives" in params.model_fields_set:
        raise ValueError(f"{path}.num_negatives: the {owner} sampler decides how many negatives "
                         "each part draws; set sampler.num_negatives instead")
    return params


class MixedPart(BaseModel):
    """``{name: ..., <that sampler's parameters>, fraction: f}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fraction: float = Field(gt=0, le=1)
    sampler: NestedSampler

    @model_validator(mode="before")
    @classmethod
    def _flat_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "sampler" not in data:
            rest = {k: v for k, v in data.items() if k != "fraction"}
            data = {"sampler": SAMPLERS.validate_nested(rest), **({"fraction": data["fraction"]}
                                                                 if "fraction" in data else {})}
        return data

    @model_serializer(mode="wrap")
    def _flat(self, handler, info) -> dict:
        return {**SAMPLERS.dump(self.sampler, info.mode), "fraction": self.fraction}

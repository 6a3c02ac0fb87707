"""Pydantic models for the ``data:`` section of a pipeline file (no torch needed to validate).

The source is one of the registered data sources (``data/sources/``), chosen
by its ``source`` field. Besides the nested form ``{source: {source: gowalla,
path: ...}}`` the flat form ``{source: gowalla, path: ..., merge_valid: true}``
is accepted: keys that are not DataConfig's own go to the source.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from ..registry import Params
from .sources.base import SOURCES


Source = SOURCES.field()


class NoiseConfig(Params):
    """``data.noise``: corrupt the training split after it is built (valid/test untouched)."""

    ratio: float = Field(0.1, ge=0, le=10, description="noisy interactions per training interaction of each user")
    mode: Literal["add", "replace", "remove"] = "add"
    seed: int = 0


class PreprocessConfig(Params):
    dedupe: bool = True
    rating_threshold: float | None = None  # keep rows with rating >= threshold
    min_user_interactions: int = Field(0, ge=0)  # k-core, iterated until stable
    min_item_interactions: int = Field(0, ge=0)


class SplitConfig(Params):
    """How to split each user's interactions.

    random: per-user random ratios; loo: one item to test and one to valid
    (newest by timestamp, else random; a zero ratio skips that split);
    temporal: the newest ``test_ratio`` to test, the next ``valid_ratio`` to
    valid; given: the source's own files.
    """

    method: Literal["random", "loo", "temporal", "given"] = "random"
    valid_ratio: float = Field(0.1, ge=0, lt=1)
    test_ratio: float = Field(0.2, ge=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _ratios(self) -> "SplitConfig":
        if self.valid_ratio + self.test_ratio >= 1:
            raise ValueError("valid_ratio + test_ratio must be below 1")
        return self


def has_own_splits(source: Params) -> bool:
    return SOURCES.get(SOURCES.name_of(source)).has_own_splits(source)


class DataConfig(Params):
    source: Source = Field(default_factory=lambda: {"source": "synthetic"}, validate_default=True)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    merge_valid: bool = False  # train on train+valid: the papers' protocol
    noise: NoiseConfig | None = None  # corrupt the training split (robustness studies)

    @model_validator(mode="before")
    @classmethod
    def _flat_form(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("source"), str):
            own = set(cls.model_fields)
            source = {k: v for k, v in data.items() if k not in own}
            data = {k: v for k, v in data.items() if k in own}
            data["source"] = {**source, "source": data["source"]}
        # sources that ship their own split files use them unless told otherwise
        if "split" not in data and "source" in data:
            try:
                source = SOURCES.validate_nested(data["source"])
            except PydanticCustomError:
                return data  # the field's own validation reports it, with its path
            data["source"] = source
            if has_own_splits(source):
                data["split"] = {"method": "given"}
        return data

    @model_validator(mode="after")
    def _split_matches_source(self) -> "DataConfig":
        given = has_own_splits(self.source)
        if given and self.split.method != "given":
            raise ValueError(f"split.method must be 'given' for a source with its own split files "
                             f"(got {self.split.method!r})")
        if not given and self.split.method == "given":
            raise ValueError("split.method 'given' needs split files: source 'gowalla', "
                             "or source 'text' with 'train'/'test'")
        return self

"""Pydantic models for the ``data:`` section of a pipeline file.

The source is a union discriminated on its ``source`` field. Besides the nested
form ``{source: {source: gowalla, path: ...}}`` the flat form
``{source: gowalla, path: ..., merge_valid: true}`` is accepted: keys that are
not DataConfig's own go to the source.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from ..registry import Params
from .noise import NoiseConfig


class SyntheticSource(Params):
    """The built-in generated dataset (see ``synthetic.generate_synthetic``)."""

    source: Literal["synthetic"] = "synthetic"
    n_users: int = Field(2000, ge=1)
    n_items: int = Field(1500, ge=3)
    dim: int = Field(16, ge=1)
    mean_interactions: float = Field(40.0, gt=0)
    popularity_exponent: float = Field(1.0, ge=0)  # Zipf exponent of item popularity
    temperature: float = Field(0.4, gt=0)  # lower = more personal, less random
    seed: int = 0


class TextSource(Params):
    """LightGCN format, one line per user: ``user_id item_id item_id ...``.

    Either one ``path`` (split by ``split``) or ``train``/``test`` (+ optional
    ``valid``) files used as given.
    """

    source: Literal["text"] = "text"
    path: str | None = None
    train: str | None = None
    valid: str | None = None
    test: str | None = None

    @model_validator(mode="after")
    def _one_layout(self) -> "TextSource":
        files = [self.train, self.valid, self.test]
        if self.path is not None and any(f is not None for f in files):
            raise ValueError("give either 'path' or 'train'/'valid'/'test' files, not both")
        if self.path is None and (self.train is None or self.test is None):
            raise ValueError("give 'path', or both 'train' and 'test' files")
        return self

    @property
    def given(self) -> bool:
        return self.path is None


class TableSource(Params):
    """A CSV / TSV / Parquet table read with pandas; ids may be strings.

    With ``header: false`` columns are named by position: ``"0"``, ``"1"``, ...
    """

    source: Literal["table"] = "table"
    path: str
    format: Literal["auto", "csv", "tsv", "parquet"] = "auto"
    sep: str | None = None
    user_col: str | int = "user"
    item_col: str | int = "item"
    rating_col: str | int | None = None
    timestamp_col: str | int | None = None
    header: bool = True


class GowallaSource(Params):
    """A folder with train.txt, test.txt and optionally valid.txt in the text format."""

    source: Literal["gowalla"] = "gowalla"
    path: str = "../shared/datasets/gowalla"


Source = Annotated[
    Union[SyntheticSource, TextSource, TableSource, GowallaSource],
    Field(discriminator="source"),
]


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


def _has_given_files(source: Any) -> bool:
    if isinstance(source, dict):
        kind = source.get("source")
        return kind == "gowalla" or (kind == "text" and source.get("path") is None)
    return isinstance(source, GowallaSource) or (isinstance(source, TextSource) and source.given)


class DataConfig(Params):
    source: Source = Field(default_factory=SyntheticSource)
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
        if "split" not in data and _has_given_files(data.get("source")):
            data["split"] = {"method": "given"}
        return data

    @model_validator(mode="after")
    def _split_matches_source(self) -> "DataConfig":
        given = _has_given_files(self.source)
        if given and self.split.method != "given":
            raise ValueError(f"split.method must be 'given' for a source with its own split files "
                             f"(got {self.split.method!r})")
        if not given and self.split.method == "given":
            raise ValueError("split.method 'given' needs split files: source 'gowalla', "
                             "or source 'text' with 'train'/'test'")
        return self

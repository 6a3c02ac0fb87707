"""The LightGCN text format, one line per user: ``user_id item_id item_id ...``.

Either one ``path`` (split by the pipeline's ``split``) or ``train``/``test``
(+ optional ``valid``) files used as given.
"""
from __future__ import annotations

from pydantic import model_validator

from ...registry import Params
from ..readers import read_given, read_text, resolve_path
from ..splits import TEST, TRAIN, VALID
from .base import SOURCES, DataSource


class TextSource(Params):
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


@SOURCES.register("text")
class Text(DataSource):
    Params = TextSource

    @classmethod
    def has_own_splits(cls, params) -> bool:
        return params.given

    def read(self, base_dir=None):
        p = self.params
        if not p.given:
            path = resolve_path(p.path, base_dir)
            return read_text(path), path.stem
        files = {TRAIN: p.train, VALID: p.valid, TEST: p.test}
        paths = {s: None if f is None else resolve_path(f, base_dir) for s, f in files.items()}
        return read_given(paths), paths[TRAIN].parent.name

"""Gowalla in the LightGCN/SimpleX split: a folder with train.txt, test.txt and optionally valid.txt."""
from __future__ import annotations

from ...registry import Params
from ..readers import read_given, resolve_path
from ..splits import SPLIT_NAMES, TEST, TRAIN, VALID
from .base import SOURCES, DataSource


class GowallaSource(Params):
    path: str = "../shared/datasets/gowalla"


@SOURCES.register("gowalla")
class Gowalla(DataSource):
    Params = GowallaSource

    @classmethod
    def has_own_splits(cls, params) -> bool:
        return True

    def read(self, base_dir=None):
        folder = resolve_path(self.params.path, base_dir)
        paths = {s: folder / f"{SPLIT_NAMES[s]}.txt" for s in (TRAIN, VALID, TEST)}
        if not paths[VALID].exists():  # the LightGCN release has no valid.txt
            paths[VALID] = None
        return read_given(paths), "gowalla"

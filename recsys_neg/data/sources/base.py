"""The data-source contract: ``read(base_dir) -> (raw-id DataFrame, dataset name)``.

The frame has columns ``user`` and ``item`` (raw ids), and ``rating`` /
``timestamp`` when the source has them; a source that ships its own split
files adds ``split`` (0 train, 1 valid, 2 test) and says so in
``has_own_splits``. Ids stay raw here; the builder encodes them. Data a
source accepts but cannot use goes, as dicts, in ``df.attrs["read_log"]``;
the builder puts them first in the preprocessing log.
"""
from __future__ import annotations

from pathlib import Path

from ...registry import Params, Registry

SOURCES: Registry["DataSource"] = Registry("data source", "recsys_neg.data.sources", key="source")


class DataSource:
    Params = Params

    def __init__(self, params: Params):
        self.params = params

    @classmethod
    def has_own_splits(cls, params: Params) -> bool:
        """True when the data comes split (train/valid/test files used as given)."""
        return False

    def read(self, base_dir: Path | None = None):
        raise NotImplementedError(f"{type(self).__name__} does not define read()")

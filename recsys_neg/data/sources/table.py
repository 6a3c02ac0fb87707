"""A CSV / TSV / Parquet table read with pandas; ids may be strings.

With ``header: false`` columns are named by position: ``"0"``, ``"1"``, ...
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from ...registry import Params
from ..readers import read_table
from .base import SOURCES, DataSource


class TableSource(Params):
    path: str
    format: Literal["auto", "csv", "tsv", "parquet"] = "auto"
    sep: str | None = None
    user_col: str | int = "user"
    item_col: str | int = "item"
    rating_col: str | int | None = None
    timestamp_col: str | int | None = None
    header: bool = True


@SOURCES.register("table")
class Table(DataSource):
    Params = TableSource

    def read(self, base_dir=None):
        return read_table(self.params, base_dir), Path(self.params.path).stem

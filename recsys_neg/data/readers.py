"""Readers: files or DataFrames -> a DataFrame of RAW ids.

Every reader returns columns ``user`` and ``item`` plus ``rating`` and
``timestamp`` when the source has them. Ids stay raw here; ``build`` encodes them.
"""
from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import DataError
from .splits import SPLIT_NAMES

if TYPE_CHECKING:
    from .sources.table import TableSource


def resolve_path(path: str | Path, base_dir: Path | None = None) -> Path:
    """Absolute paths as is; relative ones are tried in the cwd, then in ``base_dir``."""
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [Path.cwd() / p] + ([Path(base_dir) / p] if base_dir else [])
    for c in candidates:
        if c.exists():
            return c
    raise DataError(f"data file not found: {str(path)!r} (looked in: {', '.join(map(str, candidates))})")


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")


def read_text(path: str | Path) -> pd.DataFrame:
    """LightGCN format: one line per user, ``user item item ...``.

    Parsing is one numpy conversion over all tokens; lines are only walked
    again to name the culprit when something is wrong.
    """
    path = Path(path)
    _require_file(path)
    rows = [line.split() for line in path.read_text().splitlines()]
    counts = np.fromiter(map(len, rows), np.int64, len(rows))
    tokens = list(chain.from_iterable(rows))
    try:
        values = np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError):
        for n, row in enumerate(rows, 1):
            for tok in row:
                try:
                    int(tok)
                except ValueError:
                    raise DataError(f"{path}:{n}: non-integer id {tok!r}") from None
        raise DataError(f"{path}: an id does not fit in 64 bits") from None
    if values.size and values.min() < 0:
        first = int(np.argmax(values < 0))
        line = int(np.searchsorted(np.cumsum(counts), first, side="right")) + 1
        raise DataError(f"{path}:{line}: negative id {int(values[first])}")
    nonblank = counts > 0
    starts = (np.cumsum(counts) - counts)[nonblank]
    is_user = np.zeros(len(values), dtype=bool)
    is_user[starts] = True
    users = np.repeat(values[starts], counts[nonblank] - 1)
    return pd.DataFrame({"user": users, "item": values[~is_user]})


def _table_format(cfg: "TableSource", path: Path) -> str:
    if cfg.format != "auto":
        return cfg.format
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "tsv" if suffix == ".tsv" else "csv"


def read_given(files: dict[int, Path | None]) -> pd.DataFrame:
    """Concatenate split files in the text format, tagging each row with its split (0/1/2)."""
    frames = []
    for split, path in files.items():
        if path is None:
            continue
        part = read_text(path)
        if len(part) == 0:
            raise DataError(f"{SPLIT_NAMES[split]} file {path} has no interactions")
        frames.append(part.assign(split=np.int8(split)))
    return pd.concat(frames, ignore_index=True)


def read_table(cfg: "TableSource", base_dir: Path | None = None) -> pd.DataFrame:
    """A CSV / TSV / Parquet file with the columns named in ``cfg``."""
    path = resolve_path(cfg.path, base_dir)
    _require_file(path)
    fmt = _table_format(cfg, path)
    try:
        if fmt == "parquet":
            raw = pd.read_parquet(path)
        else:
            sep = cfg.sep or ("\t" if fmt == "tsv" else ",")
            # multi-character separators (MovieLens' '::') need the python engine
            raw = pd.read_csv(path, sep=sep, header=0 if cfg.header else None,
                              engine="python" if len(sep) > 1 else "c")
    except (ValueError, OSError, pd.errors.ParserError, ImportError) as err:
        raise DataError(f"{path}: cannot read as {fmt}: {err}") from None
    raw.columns = [str(c) for c in raw.columns]
    return from_dataframe(raw, cfg.user_col, cfg.item_col, cfg.rating_col, cfg.timestamp_col,
                          origin=str(path))


def from_dataframe(df: pd.DataFrame, user_col: str | int = "user", item_col: str | int = "item",
                   rating_col: str | int | None = None, timestamp_col: str | int | None = None,
                   origin: str = "DataFrame") -> pd.DataFrame:
    """Pick and normalise the id / rating / timestamp columns of ``df``."""
    present = [str(c) for c in df.columns]
    df = df.set_axis(present, axis=1)
    wanted = {"user": user_col, "item": item_col, "rating": rating_col, "timestamp": timestamp_col}
    out = {}
    for role, col in wanted.items():
        if col is None:
            continue
        col = str(col)
        if col not in present:
            raise DataError(f"{origin}: {role} column {col!r} not found; columns present: "
                            f"{', '.join(present)}")
        values = df[col]
        missing = values.isna().to_numpy()
        if missing.any():
            raise DataError(f"{origin}: column {col!r} has {int(missing.sum())} missing values "
                            f"(first at row {int(np.argmax(missing))})")
        out[role] = _normalise(values, role, col, origin)
    return pd.DataFrame(out).reset_index(drop=True)


def _normalise(values: pd.Series, role: str, col: str, origin: str) -> pd.Series:
    if role == "rating":
        try:
            return pd.to_numeric(values).astype(np.float64)
        except (ValueError, TypeError):
            raise DataError(f"{origin}: rating column {col!r} is not numeric") from None
    if role == "timestamp" and not pd.api.types.is_numeric_dtype(values):
        try:  # dates as text: only their order matters, so keep them as integers
            return pd.to_datetime(values).astype("int64")
        except (ValueError, TypeError):
            raise DataError(f"{origin}: timestamp column {col!r} is neither numeric nor dates") from None
    return values

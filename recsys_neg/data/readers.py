"""Readers: files or DataFrames -> a DataFrame of RAW ids.

Every reader returns columns ``user`` and ``item`` plus ``rating`` and
``timestamp`` when the source has them. Ids stay raw here; ``build`` encodes them.

One id rule for every reader: a numeric id is a non-negative whole number. In
text files ids are integer literals; in a table a numeric column may be read
as floats (``3.0`` becomes ``3``) but ``2.5`` or ``-1`` is an error. A table
column holding any text is a column of labels (``"ann"``, or numbers mixed
with text) and is taken as is; ``build`` encodes labels.

Errors name the place of the first bad value: ``path:line`` for text and CSV
files (1-based file line, counting the header and blank lines), ``path: row N``
for Parquet (1-based row), ``DataFrame: row LABEL`` for an in-memory frame
(the row's index label).

Data a reader accepts but cannot use (user lines without items) is reported
with a ``UserWarning`` and a dict in ``df.attrs[READ_LOG]``; ``build`` puts
those dicts first in the preprocessing log.
"""
from __future__ import annotations

import csv
import re
import warnings
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from ..errors import DataError
from .splits import SPLIT_NAMES

if TYPE_CHECKING:
    from .sources.table import TableSource

READ_LOG = "read_log"
Place = Callable[[int], str]  # 0-based data row -> "where" prefix of a message


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


# ---- text format -------------------------------------------------------------
def read_text(path: str | Path) -> pd.DataFrame:
    """LightGCN format: one line per user, ``user item item ...``; at least one interaction."""
    path = Path(path)
    df = _parse_text(path)
    if len(df) == 0:
        raise DataError(f"{path}: no interactions ({_why_no_rows(path, df)})")
    return df


def _parse_text(path: Path) -> pd.DataFrame:
    """The (user, item) rows of a text file, possibly none.

    Parsing is one numpy conversion over all tokens; lines are only walked
    again to name the culprit when something is wrong.
    """
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
    df = pd.DataFrame({"user": users, "item": values[~is_user]})
    df.attrs[READ_LOG] = _users_without_items(path, counts)
    return df


def _users_without_items(path: Path, counts: np.ndarray) -> list[dict]:
    """A line with a user id alone is legitimate but adds nothing: say so rather than drop it quietly."""
    alone = counts == 1
    if not alone.any():
        return []
    n, first = int(alone.sum()), int(np.argmax(alone)) + 1
    warnings.warn(f"{path}:{first}: {n} line(s) with a user id and no item; "
                  f"those users get no interactions from this file", UserWarning, stacklevel=4)
    return [{"filter": "users without items", "file": str(path), "lines": n, "first_line": first}]


def _why_no_rows(path: Path, df: pd.DataFrame) -> str:
    notes = df.attrs.get(READ_LOG)
    if notes:
        return f"its {notes[0]['lines']} line(s) have a user id and no item"
    return "the file is empty" if path.stat().st_size == 0 else "it has only blank lines"


def read_given(files: dict[int, Path | None]) -> pd.DataFrame:
    """Concatenate split files in the text format, tagging each row with its split (0/1/2)."""
    frames, notes = [], []
    for split, path in files.items():
        if path is None:
            continue
        part = _parse_text(Path(path))
        if len(part) == 0:
            raise DataError(f"{SPLIT_NAMES[split]} file {path} has no interactions")
        notes += part.attrs[READ_LOG]
        frames.append(part.assign(split=np.int8(split)))
    df = pd.concat(frames, ignore_index=True)
    df.attrs[READ_LOG] = notes
    return df


# ---- tables ------------------------------------------------------------------
def _table_format(cfg: "TableSource", path: Path) -> str:
    if cfg.format != "auto":
        return cfg.format
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "tsv" if suffix == ".tsv" else "csv"


def read_table(cfg: "TableSource", base_dir: Path | None = None) -> pd.DataFrame:
    """A CSV / TSV / Parquet file with the columns named in ``cfg``."""
    path = resolve_path(cfg.path, base_dir)
    _require_file(path)
    fmt = _table_format(cfg, path)
    if fmt == "parquet":
        raw, place = _read_parquet(path), _row_place(str(path))
    else:
        sep = cfg.sep or ("\t" if fmt == "tsv" else ",")
        raw, place = _read_csv(path, fmt, sep, cfg.header), _line_place(path, sep, cfg.header)
    return from_dataframe(raw, cfg.user_col, cfg.item_col, cfg.rating_col, cfg.timestamp_col,
                          origin=str(path), place=place)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_parquet(path)
    except (ValueError, OSError, ImportError) as err:
        raise DataError(f"{path}: cannot read as parquet: {err}") from None
    if len(raw) == 0:
        raise DataError(f"{path}: no rows")
    raw.columns = [str(c) for c in raw.columns]
    return raw


def _read_csv(path: Path, fmt: str, sep: str, header: bool) -> pd.DataFrame:
    # multi-character separators (MovieLens' '::') need the python engine
    engine = "python" if len(sep) > 1 else "c"
    try:
        raw = pd.read_csv(path, sep=sep, header=0 if header else None, engine=engine)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty or blank") from None
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot read as {fmt}: {err}") from None
    if len(raw) == 0:
        raise DataError(f"{path}: no data rows, only a header")
    if raw.shape[1] == 1:
        raise DataError(f"{path}: one column only ({raw.columns[0]!r}) when split on {sep!r}; "
                        f"is the separator right? (set 'sep' or 'format')")
    if not raw.index.equals(pd.RangeIndex(len(raw))):
        # pandas silently turns an extra leading field into the index, shifting every column
        raise DataError(f"{path}: data rows have more fields than the header has names "
                        f"({', '.join(map(str, raw.columns))})")
    raw.columns = _header_names(path, sep, engine, raw) if header else [str(c) for c in raw.columns]
    return raw


def _header_names(path: Path, sep: str, engine: str, raw: pd.DataFrame) -> list[str]:
    """The header as written: pandas renames a repeated name 'x' to 'x.1', hiding the clash."""
    names = [str(c) for c in raw.columns]
    if not any(re.search(r"\.\d+$", n) for n in names):
        return names
    first = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False,
                        engine=engine).iloc[0].tolist()
    return first if len(first) == len(names) and len(set(first)) < len(first) else names


def _line_place(path: Path, sep: str, header: bool) -> Place:
    return lambda row: f"{path}:{_csv_line(path, sep, header, row)}"


def _csv_line(path: Path, sep: str, header: bool, row: int) -> int:
    """1-based line where data row ``row`` starts; blank lines are skipped, as pandas does.

    Walks the file, so it is only called to name a culprit.
    """
    target, seen = row + int(header), 0
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        if len(sep) == 1:  # the csv module follows quoted fields across lines, as pandas does
            reader, start = csv.reader(f, delimiter=sep), 1
            for record in reader:
                if record and not (len(record) == 1 and not record[0].strip()):
                    if seen == target:
                        return start
                    seen += 1
                start = reader.line_num + 1
        else:
            for number, line in enumerate(f, 1):
                if line.strip():
                    if seen == target:
                        return number
                    seen += 1
    return target + 1


# ---- DataFrames --------------------------------------------------------------
def from_dataframe(df: pd.DataFrame, user_col: str | int = "user", item_col: str | int = "item",
                   rating_col: str | int | None = None, timestamp_col: str | int | None = None,
                   origin: str = "DataFrame", place: Place | None = None) -> pd.DataFrame:
    """Pick, check and normalise the id / rating / timestamp columns of ``df``.

    ``place(k)`` names data row ``k`` (0-based position) in messages; by
    default ``"{origin}: row LABEL"`` with the row's index label.
    """
    place = place or _label_place(origin, df.index)
    present = [str(c) for c in df.columns]
    df = df.set_axis(present, axis=1)
    wanted = {"user": user_col, "item": item_col, "rating": rating_col, "timestamp": timestamp_col}
    out = {}
    for role, col in wanted.items():
        if col is None:
            continue
        col = str(col)
        values = _column(df, present, role, col, origin)
        _require_values(values, col, origin, place)
        out[role] = _normalise(values, role, col, origin, place)
    return pd.DataFrame(out).reset_index(drop=True)


def _label_place(origin: str, index: pd.Index) -> Place:
    return lambda row: f"{origin}: row {index[row]}"


def _row_place(origin: str) -> Place:
    """1-based rows, for Parquet, which has no lines."""
    return lambda row: f"{origin}: row {row + 1}"


def _column(df: pd.DataFrame, present: list[str], role: str, col: str, origin: str) -> pd.Series:
    if col not in present:
        raise DataError(f"{origin}: {role} column {col!r} not found; columns present: "
                        f"{', '.join(present)}")
    if present.count(col) > 1:
        raise DataError(f"{origin}: {role} column {col!r} appears {present.count(col)} times "
                        f"in the header; which one is meant is ambiguous")
    return df[col]


def _require_values(values: pd.Series, col: str, origin: str, place: Place) -> None:
    missing = values.isna().to_numpy()
    if not missing.any():
        return
    if missing.all():
        raise DataError(f"{origin}: column {col!r} is empty (no value in any of its {len(values)} rows)")
    raise DataError(f"{place(int(np.argmax(missing)))}: column {col!r} has {int(missing.sum())} "
                    f"missing values; this is the first")


def _normalise(values: pd.Series, role: str, col: str, origin: str, place: Place) -> pd.Series:
    if role == "rating":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna().to_numpy()
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(f"{place(first)}: rating column {col!r} is not numeric: "
                            f"{_scalar(values.iloc[first])!r}")
        return numbers.astype(np.float64)
    if role == "timestamp" and not pd.api.types.is_numeric_dtype(values):
        try:  # dates as text: only their order matters, so keep them as integers
            return pd.to_datetime(values).astype("int64")
        except (ValueError, TypeError):
            raise DataError(f"{origin}: timestamp column {col!r} is neither numeric nor dates") from None
    if role in ("user", "item"):
        return _ids(values, col, place)
    return values


def _ids(values: pd.Series, col: str, place: Place) -> pd.Series:
    """Numeric ids as non-negative int64 (the module's id rule); labels untouched."""
    types = pd.api.types
    if types.is_integer_dtype(values.dtype):
        numbers = values
    elif types.is_float_dtype(values.dtype):
        numbers = values.astype(np.float64)
    elif values.dtype == object and types.infer_dtype(values) in ("integer", "floating",
                                                                   "mixed-integer-float"):
        numbers = pd.to_numeric(values)  # numbers held as Python objects
    else:
        return values  # text, or text mixed with numbers: labels, encoded as text later
    arr = np.asarray(numbers.to_numpy())
    bad = arr < 0
    if arr.dtype.kind == "f":
        # whole floats (3.0, as a float column is often written) are fine; 2.5 is not
        bad |= (arr != np.floor(arr)) | (arr >= 2.0 ** 63)
    elif arr.dtype.kind == "u":
        bad |= arr >= 2 ** 63
    if bad.any():
        first = int(np.argmax(bad))
        value = _scalar(arr[first])
        kind = ("non-integer id" if value != np.floor(value) else
                "negative id" if value < 0 else "id too large for 64 bits")
        raise DataError(f"{place(first)}: column {col!r}: {kind} {value!r}")
    return pd.Series(arr.astype(np.int64, copy=False), index=values.index)


def _scalar(value):
    """Plain Python value for messages (numpy scalars print as ``np.float64(2.5)``)."""
    return value.item() if isinstance(value, np.generic) else value

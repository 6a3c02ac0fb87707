"""Top-K lists made elsewhere, as a ranker the evaluator treats like any model.

A recommendations file has one row per recommended (user, item) with RAW ids (as in
the data files) and a ``rank`` (1 = best) or a ``score`` (higher = better) column;
CSV, TSV (by suffix) or Parquet (``.parquet``/``.pq``). Ids go through the dataset's id
maps with the readers' id rule. Nothing is dropped silently:

- a user or item the dataset does not know is counted and its first rows reported with
  their file line (``strict`` makes it an error);
- a (user, item) pair listed twice is an error naming both lines;
- listed items the evaluated split masks (the user's training items, plus validation
  items on the test split) are counted; the evaluator masks them exactly as it masks a
  model's scores, so they take no place in the top K.

``RecommendationList`` ranks a listed item by its place in its user's list (ties in rank
or score keep the file's order; the place, not the raw score, becomes the score, so
float precision cannot reorder a list) and every other item at -inf: the evaluator's
mask, top-K and metrics run unchanged, and a user with no list gets zero hits.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ..data.interactions import Interactions
from ..data.readers import _line_place, _read_csv, _read_parquet, _row_place, from_dataframe
from ..errors import DataError
from ..models.base import Ranker

EXAMPLES = 5  # unknown ids reported by value and line


@dataclass
class RecommendationsReport:
    """What reading a file found; written into metrics.json as ``recommendations``."""

    path: str
    order: str  # "rank" or "score"
    rows: int
    rows_used: int = 0
    users_listed: int = 0
    unknown_users: int = 0  # rows whose user the dataset does not know
    unknown_user_examples: list[dict] = field(default_factory=list)
    unknown_items: int = 0  # rows (with a known user) whose item the dataset does not know
    unknown_item_examples: list[dict] = field(default_factory=list)
    masked: int = 0  # listed pairs the evaluated split masks (dropped as the engine drops them)
    longest_list: int = 0
    evaluated_users_without_list: int = 0  # users with relevant items but no list: zero hits each

    def to_dict(self) -> dict:
        return asdict(self)

    def warnings(self) -> list[str]:
        out = []
        for kind in ("user", "item"):
            n = getattr(self, f"unknown_{kind}s")
            if n:
                shown = ", ".join(f"{e['id']!r} ({e['where']})" for e in getattr(self, f"unknown_{kind}_examples"))
                out.append(f"{self.path}: {n} row(s) name a {kind} the dataset does not know, left out; "
                           f"first: {shown}")
        if self.masked:
            out.append(f"{self.path}: {self.masked} listed item(s) are the user's own known items; the "
                       "evaluator masks them, as it masks a model's")
        return out


class RecommendationList:
    """A ranker over fixed lists: ``scores[u, i]`` = -(1 + place of i in u's list), -inf when unlisted."""

    def __init__(self, n_users: int, n_items: int, users: np.ndarray, items: np.ndarray, places: np.ndarray,
                 device: str | torch.device = "cpu"):
        # never 0, so no entry can be taken for an absent one
        self.matrix = sp.csr_matrix((-1.0 - places.astype(np.float32), (users, items)), shape=(n_users, n_items))
        self.matrix.sort_indices()
        self.n_items, self.device = n_items, torch.device(device)

    def _rank(self, users: torch.Tensor) -> torch.Tensor:
        rows = self.matrix[users.cpu().numpy()]
        out = torch.full((rows.shape[0], self.n_items), float("-inf"))
        r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        out[torch.from_numpy(r), torch.from_numpy(rows.indices.astype(np.int64))] = torch.from_numpy(rows.data)
        return out.to(self.device)

    @contextmanager
    def ranking(self):
        yield Ranker(self._rank, self.device)


def _read(path: Path) -> tuple[pd.DataFrame, callable]:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path), _row_place(str(path))
    fmt = "tsv" if suffix == ".tsv" else "csv"
    sep = "\t" if fmt == "tsv" else ","
    return _read_csv(path, fmt, sep, header=True), _line_place(path, sep, True)


def _order_column(raw: pd.DataFrame, path: Path, order: str) -> str:
    cols = [str(c) for c in raw.columns]
    if order == "auto":
        found = [c for c in ("rank", "score") if c in cols]
        if not found:
            raise DataError(f"{path}: needs a 'rank' (1 = best) or 'score' (higher = better) column next to "
                            f"user and item; columns present: {', '.join(cols)}")
        return found[0]
    if order not in cols:
        raise DataError(f"{path}: no {order!r} column; columns present: {', '.join(cols)}")
    return order


def _lookup(known: np.ndarray, values: pd.Series) -> np.ndarray:
    """Internal index of each raw id (-1 when unknown); numbers match numbers, anything else as text."""
    numeric = np.issubdtype(np.asarray(known).dtype, np.number) and pd.api.types.is_numeric_dtype(values)
    if numeric:
        return pd.Index(known).get_indexer(values.to_numpy())
    return pd.Index(np.asarray(known).astype(str)).get_indexer(values.astype(str).to_numpy())


def read_recommendations(path: str | Path, data: Interactions, split: str = "test", order: str = "auto",
                         user_col: str = "user", item_col: str = "item", strict: bool = False
                         ) -> tuple[RecommendationList, RecommendationsReport]:
    """The file as a ranker over ``data``'s ids, and the report of what was found."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"recommendations file not found: {path}")
    raw, place = _read(path)
    col = _order_column(raw, path, order)
    ids = from_dataframe(raw, user_col, item_col, origin=str(path), place=place)
    values = pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(f"{place(first)}: column {col!r} needs a finite number, got {raw[col].iloc[first]!r}")
    report = RecommendationsReport(str(path), col, len(raw))
    users, items = _lookup(data.user_ids, ids["user"]), _lookup(data.item_ids, ids["item"])
    unknown_u = users < 0
    unknown_i = (items < 0) & ~unknown_u
    for kind, mask, column in (("user", unknown_u, "user"), ("item", unknown_i, "item")):
        rows = np.flatnonzero(mask)
        setattr(report, f"unknown_{kind}s", int(len(rows)))
        setattr(report, f"unknown_{kind}_examples",
                [{"id": _plain(ids[column].iloc[r]), "where": place(int(r))} for r in rows[:EXAMPLES]])
    if strict and (report.unknown_users or report.unknown_items):
        raise DataError("; ".join(report.warnings()[:2]) + " (strict: unknown ids are errors)")
    keep = np.flatnonzero(~(unknown_u | unknown_i))
    users, items, values = users[keep], items[keep], values[keep]
    _refuse_duplicates(users, items, keep, place, data.n_items)
    # place in the user's list: by rank ascending / score descending, ties in file order
    key = values if col == "rank" else -values
    order_idx = np.lexsort((np.arange(len(keep)), key, users))
    u_sorted = users[order_idx]
    starts = np.flatnonzero(np.r_[True, u_sorted[1:] != u_sorted[:-1]]) if len(u_sorted) else np.zeros(0, int)
    lengths = np.diff(np.r_[starts, len(u_sorted)])
    places = np.empty(len(keep), np.int64)
    places[order_idx] = np.arange(len(keep)) - np.repeat(starts, lengths)
    report.rows_used, report.users_listed = int(len(keep)), int(len(starts))
    report.longest_list = int(lengths.max()) if len(lengths) else 0
    report.masked = _count_masked(data, split, users, items)
    return RecommendationList(data.n_users, data.n_items, users, items, places), report


def _refuse_duplicates(users, items, rows, place, n_items) -> None:
    keys = users.astype(np.int64) * n_items + items
    order = np.argsort(keys, kind="stable")
    dup = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if len(dup):
        a, b = rows[order[dup[0]]], rows[order[dup[0] + 1]]
        raise DataError(f"{place(int(b))}: the same (user, item) pair is listed twice (first at {place(int(a))})")


def _count_masked(data: Interactions, split: str, users: np.ndarray, items: np.ndarray) -> int:
    known = data.train
    if split == "test" and data.valid is not None:
        known = (data.train + data.valid).tocsr()
    return int(np.asarray(known[users, items]).ravel().astype(bool).sum()) if len(users) else 0


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["RecommendationList", "RecommendationsReport", "read_recommendations"]

"""Filters on a raw-id DataFrame: dedupe, rating threshold, iterated k-core.

Each step is logged as a dict (rows/users/items before and after) so a run can
report what was dropped, and a step that leaves nothing raises a DataError
naming itself.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .config import PreprocessConfig
from .splits import TRAIN


def _stats(df: pd.DataFrame) -> dict[str, int]:
    return {"rows": len(df), "users": int(df["user"].nunique()), "items": int(df["item"].nunique())}


def _log(log: list[dict], name: str, before: dict[str, int], df: pd.DataFrame) -> None:
    after = _stats(df)
    log.append({"filter": name, "before": before, "after": after})
    if after["rows"] == 0:
        raise DataError(
            f"filter {name} removed every interaction: users {before['users']} -> 0, "
            f"items {before['items']} -> 0, rows {before['rows']} -> 0")


def _passing(u: np.ndarray, i: np.ndarray, keep: np.ndarray, min_user: int, min_item: int) -> np.ndarray:
    """Rows whose user and item reach their minimum counted over the ``keep`` rows."""
    ucount = np.bincount(u[keep], minlength=u.max(initial=-1) + 1)
    icount = np.bincount(i[keep], minlength=i.max(initial=-1) + 1)
    return (ucount[u] >= min_user) & (icount[i] >= min_item)


def _core(u: np.ndarray, i: np.ndarray, keep: np.ndarray, min_user: int, min_item: int) -> np.ndarray:
    """The rows of ``keep`` left once users/items below their minimum are dropped, repeatedly."""
    while True:
        new = keep & _passing(u, i, keep, min_user, min_item)
        if new.sum() == keep.sum():
            return keep
        keep = new


def k_core(df: pd.DataFrame, min_user: int, min_item: int) -> pd.DataFrame:
    """Drop users/items below their minimum, repeating until nothing changes.

    With a ``split`` column only training rows count: held-out rows must not
    decide what the model trains on. Valid/test rows go with their user or
    item when that one falls below its minimum in the kept training rows
    (it is out of the data, so they could not be evaluated).
    """
    u, _ = pd.factorize(df["user"])
    i, _ = pd.factorize(df["item"])
    if "split" not in df:
        keep = _core(u, i, np.ones(len(df), dtype=bool), min_user, min_item)
    else:
        train = df["split"].to_numpy() == TRAIN
        keep = _core(u, i, train, min_user, min_item)
        keep |= ~train & _passing(u, i, keep, min_user, min_item)
    return df[keep].reset_index(drop=True)


def preprocess(df: pd.DataFrame, cfg: PreprocessConfig) -> tuple[pd.DataFrame, list[dict]]:
    """Apply the configured filters; returns the frame and the per-filter log.

    A ``split`` column (given split files) is respected: duplicates are only
    removed within one split, k-core counts training rows only (see ``k_core``).
    """
    log: list[dict] = []
    if len(df) == 0:
        raise DataError("the data has no interactions")
    if cfg.rating_threshold is not None:
        if "rating" not in df:
            raise DataError("preprocess.rating_threshold is set but the data has no rating column "
                            "(set rating_col on a table source)")
        before = _stats(df)
        df = df[df["rating"] >= cfg.rating_threshold].reset_index(drop=True)
        _log(log, f"rating_threshold={cfg.rating_threshold:g}", before, df)
    if cfg.dedupe:
        before = _stats(df)
        key = ["user", "item"] + (["split"] if "split" in df else [])
        df = df.drop_duplicates(key).reset_index(drop=True)
        _log(log, "dedupe", before, df)
    if cfg.min_user_interactions > 1 or cfg.min_item_interactions > 1:
        before = _stats(df)
        df = k_core(df, cfg.min_user_interactions, cfg.min_item_interactions)
        _log(log, f"k-core(users>={cfg.min_user_interactions}, items>={cfg.min_item_interactions})",
             before, df)
    return df, log

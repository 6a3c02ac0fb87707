"""DataConfig -> Interactions: read, filter, encode ids, split, build CSR."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError
from .config import DataConfig
from .interactions import Interactions
from .noise import inject_noise
from .preprocess import preprocess
from .readers import READ_LOG, from_dataframe
from .sources import SOURCES
from .splits import SPLIT_NAMES, TEST, TRAIN, VALID, split_labels


def read_source(cfg: DataConfig, base_dir: Path | None = None) -> tuple[pd.DataFrame, str]:
    """The raw-id frame of the configured source and a dataset name."""
    return SOURCES.build(cfg.source).read(base_dir)


def _encode(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous internal ids in sorted raw-id order (ids 0..n-1 map to themselves)."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types cannot be sorted together: compare as text
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def build_interactions(cfg: DataConfig | None = None, base_dir: Path | None = None,
                       df: pd.DataFrame | None = None) -> Interactions:
    """Build the Interactions a run trains and evaluates on.

    ``df`` replaces the configured source with an in-memory frame (columns as
    named by a table source, else ``user``/``item`` [+ ``rating``/``timestamp``]).
    """
    cfg = cfg or DataConfig()
    if df is not None:
        src = cfg.source
        if SOURCES.name_of(src) == "table":
            raw = from_dataframe(df, src.user_col, src.item_col, src.rating_col, src.timestamp_col)
        else:
            raw = from_dataframe(df, rating_col="rating" if "rating" in df else None,
                                 timestamp_col="timestamp" if "timestamp" in df else None)
        name = "dataframe"
    else:
        raw, name = read_source(cfg, base_dir)

    data, log = preprocess(raw, cfg.preprocess)
    log = list(raw.attrs.get(READ_LOG, [])) + log  # what the reader skipped comes first
    users, user_ids = _encode(data["user"])
    items, item_ids = _encode(data["item"])
    encoded = pd.DataFrame({"user": users, "item": items})
    for col in ("timestamp", "split"):
        if col in data:
            encoded[col] = data[col].to_numpy()
    labels = split_labels(encoded, cfg.split)

    shape = (len(user_ids), len(item_ids))
    given = cfg.split.method == "given"
    matrices = {}
    for split, ratio in ((TRAIN, 1.0), (VALID, cfg.split.valid_ratio), (TEST, cfg.split.test_ratio)):
        rows = labels == split
        wanted = split in set(np.unique(raw["split"])) if given else ratio > 0
        if not wanted:
            matrices[split] = None
            continue
        if not rows.any():
            raise DataError(_empty_split_message(SPLIT_NAMES[split], cfg, log))
        matrices[split] = sp.csr_matrix(
            (np.ones(int(rows.sum()), np.float32), (users[rows], items[rows])), shape=shape)

    result = Interactions(matrices[TRAIN], matrices[VALID], matrices[TEST], user_ids, item_ids,
                          name, {"source": SOURCES.name_of(cfg.source), "preprocess": log})
    result = result.merge_valid_into_train() if cfg.merge_valid else result
    return inject_noise(result, cfg.noise) if cfg.noise is not None else result


def _empty_split_message(split: str, cfg: DataConfig, log: list[dict]) -> str:
    if cfg.split.method == "given":
        dropped = "; ".join(f"{s['filter']}: rows {s['before']['rows']} -> {s['after']['rows']}"
                            for s in log if "before" in s) or "no filters"
        return f"the {split} split is empty after preprocessing ({dropped})"
    return (f"split {cfg.split.method!r} left {split} empty: no user has enough interactions "
            f"to put some in every split and keep one in train")


def load_gowalla(path: str | Path = "../shared/datasets/gowalla", merge_valid: bool = False) -> Interactions:
    """Gowalla in the LightGCN/SimpleX split; ``merge_valid`` gives the papers' training set."""
    return build_interactions(DataConfig(source={"source": "gowalla", "path": str(path)}, merge_valid=merge_valid))

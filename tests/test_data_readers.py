"""Readers, preprocessing filters, DataConfig forms and the dataset catalog."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_neg.data import DataConfig, build_interactions
from recsys_neg.data import catalog
from recsys_neg.data.config import PreprocessConfig
from recsys_neg.data.sources.gowalla import GowallaSource
from recsys_neg.data.sources.synthetic import SyntheticSource
from recsys_neg.data.sources.table import TableSource
from recsys_neg.data.preprocess import k_core, preprocess
from recsys_neg.data.readers import from_dataframe, read_table, read_text, resolve_path


def _pairs(df: pd.DataFrame) -> set:
    return set(zip(df["user"].tolist(), df["item"].tolist()))


def _matrix_pairs(inter, split="train") -> set:
    m = inter.split(split).tocoo()
    return {(inter.user_ids[u], inter.item_ids[i]) for u, i in zip(m.row, m.col)}


# ---- text format -----------------------------------------------------------
def test_text_round_trip(write_lines):
    rows = {0: [3, 1, 4], 1: [1, 5], 2: [], 3: [9, 2, 6, 5]}
    lines = [" ".join(map(str, [u, *items])) for u, items in rows.items()]
    path = write_lines("train.txt", lines[:2] + ["", "  "] + lines[2:])  # blank lines are skipped
    with pytest.warns(UserWarning, match=r"train\.txt:5: 1 line\(s\) with a user id and no item"):
        df = read_text(path)  # user 2 has no items
    assert list(df.columns) == ["user", "item"]
    assert df["user"].tolist() == [0, 0, 0, 1, 1, 3, 3, 3, 3]
    assert df["item"].tolist() == [3, 1, 4, 1, 5, 9, 2, 6, 5]


def test_text_source_keeps_identity_ids(write_lines):
    rng = np.random.default_rng(1)
    lines = [f"{u} " + " ".join(map(str, rng.choice(12, 6, replace=False))) for u in range(20)]
    lines[0] = "0 " + " ".join(map(str, range(12)))  # every item id present
    write_lines("all.txt", lines)
    inter = build_interactions(DataConfig(source={"source": "text", "path": "all.txt"}),
                               base_dir=write_lines("x", []).parent)
    assert inter.name == "all"
    assert inter.user_ids.tolist() == list(range(20))
    assert inter.item_ids.tolist() == list(range(12))
    total = inter.train.nnz + inter.valid.nnz + inter.test.nnz
    assert total == 19 * 6 + 12


# ---- tables ----------------------------------------------------------------
TABLE = pd.DataFrame({
    "who": ["ann", "ann", "bob", "bob", "cat", "ann"],
    "what": ["x1", "x2", "x1", "x3", "x2", "x1"],
    "stars": [5, 3, 4, 1, 2, 5],
    "when": [10, 20, 30, 40, 50, 60],
})


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_table_formats_with_string_ids(tmp_path, fmt):
    path = tmp_path / f"ratings.{fmt}"
    if fmt == "parquet":
        TABLE.to_parquet(path)
    else:
        TABLE.to_csv(path, sep="," if fmt == "csv" else "\t", index=False)
    cfg = TableSource(path=str(path), user_col="who", item_col="what", rating_col="stars",
                      timestamp_col="when")
    df = read_table(cfg)
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert df["user"].tolist() == TABLE["who"].tolist()
    assert df["item"].tolist() == TABLE["what"].tolist()
    assert df["rating"].tolist() == [5.0, 3.0, 4.0, 1.0, 2.0, 5.0]


def test_table_without_header_multichar_separator(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::10::5::100\n1::11::3::101\n2::10::4::102\n")
    cfg = TableSource(path=str(path), sep="::", header=False, user_col=0, item_col="1",
                      rating_col=2, timestamp_col=3)
    df = read_table(cfg)
    assert _pairs(df) == {(1, 10), (1, 11), (2, 10)}
    assert df["timestamp"].tolist() == [100, 101, 102]


def test_table_source_builds_with_raw_ids(tmp_path):
    TABLE.to_csv(tmp_path / "t.csv", index=False)
    cfg = DataConfig(source={"source": "table", "path": "t.csv", "user_col": "who", "item_col": "what"},
                     split={"valid_ratio": 0, "test_ratio": 0.0})
    inter = build_interactions(cfg, base_dir=tmp_path)
    assert inter.name == "t"
    assert inter.user_ids.tolist() == ["ann", "bob", "cat"]
    assert inter.item_ids.tolist() == ["x1", "x2", "x3"]
    assert inter.valid is None and inter.test is None
    assert _matrix_pairs(inter) == _pairs(TABLE.rename(columns={"who": "user", "what": "item"}))


def test_dataframe_input():
    df = TABLE.rename(columns={"who": "user", "what": "item", "when": "timestamp"})
    inter = build_interactions(DataConfig(split={"method": "loo", "valid_ratio": 0}), df=df)
    assert inter.name == "dataframe"
    assert inter.n_users == 3 and inter.n_items == 3
    # dedupe keeps ann's first x1 (t=10), so x2 (t=20) is her latest; cat has one item: train only
    assert _matrix_pairs(inter, "test") == {("ann", "x2"), ("bob", "x3")}


def test_from_dataframe_custom_columns():
    df = from_dataframe(TABLE, "who", "what", rating_col="stars")
    assert list(df.columns) == ["user", "item", "rating"]
    assert len(df) == len(TABLE)


def test_timestamps_as_dates_are_ordered():
    df = pd.DataFrame({"u": [1, 1], "i": [2, 3], "t": ["2021-03-01", "2020-01-05"]})
    out = from_dataframe(df, "u", "i", timestamp_col="t")
    assert out["timestamp"].iloc[0] > out["timestamp"].iloc[1]


# ---- preprocessing ---------------------------------------------------------
def test_rating_threshold():
    df = from_dataframe(TABLE, "who", "what", rating_col="stars")
    out, log = preprocess(df, PreprocessConfig(rating_threshold=4, dedupe=False))
    assert out["rating"].min() >= 4
    assert len(out) == 3
    assert log[0]["before"]["rows"] == 6 and log[0]["after"]["rows"] == 3


def test_dedupe(random_frame):
    df = random_frame(n_rows=500, n_users=10, n_items=10)
    out, _ = preprocess(df, PreprocessConfig())
    assert not out.duplicated(["user", "item"]).any()
    assert _pairs(out) == _pairs(df)
    kept, _ = preprocess(df, PreprocessConfig(dedupe=False))
    assert len(kept) == 500


def _k_core_brute(df: pd.DataFrame, min_user: int, min_item: int) -> set:
    pairs = list(zip(df["user"], df["item"]))
    while True:
        users = pd.Series([u for u, _ in pairs]).value_counts()
        items = pd.Series([i for _, i in pairs]).value_counts()
        kept = [(u, i) for u, i in pairs if users[u] >= min_user and items[i] >= min_item]
        if len(kept) == len(pairs):
            return set(kept)
        pairs = kept


@pytest.mark.parametrize("seed,min_user,min_item", [(0, 5, 4), (1, 8, 8), (2, 3, 10)])
def test_k_core_matches_brute_force(random_frame, seed, min_user, min_item):
    df = random_frame(n_rows=300, n_users=40, n_items=40, seed=seed).drop_duplicates()
    out = k_core(df, min_user, min_item)
    assert _pairs(out) == _k_core_brute(df, min_user, min_item)
    if len(out):
        assert out["user"].value_counts().min() >= min_user
        assert out["item"].value_counts().min() >= min_item


def test_preprocess_log_reaches_extras():
    cfg = DataConfig(source=SyntheticSource(n_users=200, n_items=150),
                     preprocess={"min_user_interactions": 10, "min_item_interactions": 10})
    inter = build_interactions(cfg)
    steps = [s["filter"] for s in inter.extras["preprocess"]]
    assert steps == ["dedupe", "k-core(users>=10, items>=10)"]
    assert inter.item_popularity.min() >= 1


# ---- config forms and paths --------------------------------------------------
def test_default_config_is_synthetic():
    cfg = DataConfig()
    assert isinstance(cfg.source, SyntheticSource)
    assert cfg.split.method == "random" and cfg.merge_valid is False


def test_flat_config_form_for_gowalla():
    cfg = DataConfig.model_validate({"source": "gowalla", "path": "somewhere", "merge_valid": True})
    assert isinstance(cfg.source, GowallaSource) and cfg.source.path == "somewhere"
    assert cfg.model_dump()["source"] == {"source": "gowalla", "path": "somewhere"}
    assert cfg.split.method == "given" and cfg.merge_valid


def test_relative_path_tries_cwd_then_base_dir(tmp_path, monkeypatch):
    (tmp_path / "base").mkdir()
    (tmp_path / "cwd").mkdir()
    (tmp_path / "base" / "f.txt").write_text("0 1\n")
    monkeypatch.chdir(tmp_path / "cwd")
    assert resolve_path("f.txt", tmp_path / "base") == tmp_path / "base" / "f.txt"
    (tmp_path / "cwd" / "f.txt").write_text("0 2\n")
    assert resolve_path("f.txt", tmp_path / "base") == tmp_path / "cwd" / "f.txt"
    assert resolve_path(tmp_path / "base" / "f.txt") == tmp_path / "base" / "f.txt"


# ---- catalog ---------------------------------------------------------------
def test_download_is_local_and_skips_cached_files(tmp_path, monkeypatch):
    src = tmp_path / "remote"
    src.mkdir()
    (src / "train.txt").write_text("0 1 2\n")
    (src / "test.txt").write_text("0 3\n")
    urls = tuple((src / f).as_uri() for f in ("train.txt", "test.txt"))
    monkeypatch.setitem(catalog.CATALOG, "tiny", catalog.Dataset("tiny test set", urls, "text"))
    cache = tmp_path / "cache"

    folder = catalog.download("tiny", cache_dir=cache)
    assert (folder / "train.txt").read_text() == "0 1 2\n"
    assert sorted(p.name for p in folder.iterdir()) == ["test.txt", "train.txt"]  # no temp files left

    (src / "train.txt").write_text("changed\n")
    catalog.download("tiny", cache_dir=cache)
    assert (folder / "train.txt").read_text() == "0 1 2\n"  # present files are not fetched again

    rows = {r["name"]: r for r in catalog.list_datasets(cache)}
    assert rows["tiny"]["cached"] and not rows["gowalla"]["cached"]
    assert rows["synthetic"]["location"] == "built-in"
    inter = build_interactions(DataConfig(source={"source": "gowalla", "path": str(folder)}))
    assert inter.valid is None and inter.test.nnz == 1


def test_catalog_urls():
    assert catalog.CATALOG["yelp2018"].urls[0] == (
        "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/master/data/yelp2018/train.txt")
    assert catalog.CATALOG["movielens-1m"].urls[0].endswith("ml-1m.zip")
    assert set(catalog.CATALOG) == {"gowalla", "yelp2018", "amazon-book", "movielens-1m"}

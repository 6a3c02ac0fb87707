"""Strict readers: one id rule, empty files, missing values, skipped lines and k-core
on given splits, each failing with the file and the 1-based line (or row) at fault."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from recsys_neg.data import DataConfig, build_interactions
from recsys_neg.data.preprocess import k_core
from recsys_neg.data.readers import from_dataframe, read_table, read_text
from recsys_neg.data.sources.table import TableSource
from recsys_neg.errors import DataError


def _table(path, **kw) -> pd.DataFrame:
    return read_table(TableSource(path=str(path), **kw))


def _raises(call, *fragments: str) -> str:
    """Run ``call``, expect a DataError whose message holds every fragment."""
    with pytest.raises(DataError) as err:
        call()
    msg = str(err.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    return msg


def _pairs(inter, split="train") -> set:
    m = inter.split(split).tocoo()
    return {(int(inter.user_ids[u]), int(inter.item_ids[i])) for u, i in zip(m.row, m.col)}


# ---- 1. one id rule --------------------------------------------------------------
@pytest.mark.parametrize("lines,header,where,what", [
    # header on line 1, a blank line (skipped by pandas) and a quoted two-line field before the culprit
    (["user,item", "1,2", "", '"3\n",4', "5,2.5", "6,7"], True, ":6:", "column 'item': non-integer id 2.5"),
    (["user,item", "1,2", "-3,4"], True, ":3:", "column 'user': negative id -3"),
    (["1,2", "3,4", "5,-6"], False, ":3:", "column '1': negative id -6"),
    (["user,item", "1.5,2", "3,4"], True, ":2:", "column 'user': non-integer id 1.5"),
])
def test_csv_bad_ids_name_file_column_and_line(tmp_path, lines, header, where, what):
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    cols = {} if header else {"user_col": 0, "item_col": 1}
    _raises(lambda: _table(path, header=header, **cols), f"ratings.csv{where}", what)


def test_multichar_separator_bad_id_line(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::10\n\n2::-11\n")
    _raises(lambda: _table(path, sep="::", header=False, user_col=0, item_col=1),
            "ratings.dat:3:", "negative id -11")


def test_whole_float_ids_become_integers(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item\n1.0,3.0\n2.0,4.0\n")
    df = _table(path)
    assert df["user"].dtype == np.int64 and df["item"].dtype == np.int64
    assert df["user"].tolist() == [1, 2] and df["item"].tolist() == [3, 4]


def test_parquet_bad_id_names_the_row(tmp_path):
    path = tmp_path / "ratings.parquet"
    pd.DataFrame({"user": [1, 2, 3], "item": [4.0, 5.5, 6.0]}).to_parquet(path)
    _raises(lambda: _table(path), "ratings.parquet: row 2:", "column 'item': non-integer id 5.5")


def test_dataframe_bad_id_names_the_index_label():
    df = pd.DataFrame({"user": [1, -2, 3], "item": [4, 5, 6]}, index=[10, 11, 12])
    _raises(lambda: build_interactions(df=df), "DataFrame: row 11:", "column 'user': negative id -2")
    objects = pd.DataFrame({"user": pd.Series([1, 2.5], dtype=object), "item": [1, 2]})
    _raises(lambda: from_dataframe(objects), "DataFrame: row 1:", "non-integer id 2.5")


def test_text_and_mixed_ids_stay_labels():
    df = pd.DataFrame({"user": pd.Series([1, "a", -2, "b"], dtype=object), "item": ["x", "y", "z", "-1"]})
    out = from_dataframe(df)
    assert out["user"].tolist() == [1, "a", -2, "b"] and out["item"].tolist() == ["x", "y", "z", "-1"]
    inter = build_interactions(DataConfig(split={"valid_ratio": 0, "test_ratio": 0}), df=df)
    assert inter.n_users == 4 and inter.train.nnz == 4


# ---- 2. empty files are named --------------------------------------------------------
@pytest.mark.parametrize("name,content,fragment", [
    ("empty.csv", "", "the file is empty"),
    ("header.csv", "user,item\n", "only a header"),
    ("empty.txt", "", "the file is empty"),
    ("blank.txt", "\n  \n\n", "only blank lines"),
])
def test_empty_files_are_named(tmp_path, name, content, fragment):
    (tmp_path / name).write_text(content)
    kind = "table" if name.endswith(".csv") else "text"
    cfg = DataConfig(source={"source": kind, "path": name})
    _raises(lambda: build_interactions(cfg, base_dir=tmp_path), str(tmp_path / name), fragment)


def test_empty_parquet_is_named(tmp_path):
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"user": pd.Series([], dtype=np.int64), "item": pd.Series([], dtype=np.int64)}).to_parquet(path)
    cfg = DataConfig(source={"source": "table", "path": str(path)})
    _raises(lambda: build_interactions(cfg), str(path), "no rows")


# ---- 3. missing values at their file line ------------------------------------------
def test_missing_value_names_file_column_and_line(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item\n1,2\n\n3,\n4,5\n6,\n")
    _raises(lambda: _table(path), "ratings.csv:4:", "column 'item' has 2 missing values")
    path.write_text("1,2\n3,\n")
    _raises(lambda: _table(path, header=False, user_col=0, item_col=1), "ratings.csv:2:", "column '1'")
    path.write_text("user,item\n,2\n,3\n")
    _raises(lambda: _table(path), "ratings.csv", "column 'user' is empty")


# ---- 4. user lines without items ---------------------------------------------------
def test_users_without_items_are_reported(write_lines):
    path = write_lines("all.txt", ["0 1 2 3 4", "1 2 3 4", "", "17", "2 1 3 4", "18"])
    with pytest.warns(UserWarning, match=re.escape(f"{path}:4: 2 line(s) with a user id and no item")):
        inter = build_interactions(DataConfig(source={"source": "text", "path": str(path)},
                                              split={"valid_ratio": 0, "test_ratio": 0}))
    assert inter.extras["preprocess"][0] == {"filter": "users without items", "file": str(path),
                                            "lines": 2, "first_line": 4}
    assert inter.n_users == 3  # the lines are accepted, they just add no interaction


def test_users_without_items_in_a_given_file(write_lines):
    train = write_lines("train.txt", ["0 1 2", "1 2 3"])
    test = write_lines("test.txt", ["0 3", "1", "2"])
    with pytest.warns(UserWarning, match=re.escape(f"{test}:2: 2 line(s)")):
        inter = build_interactions(DataConfig(source={"source": "text", "train": str(train), "test": str(test)}))
    notes = [s for s in inter.extras["preprocess"] if s["filter"] == "users without items"]
    assert notes == [{"filter": "users without items", "file": str(test), "lines": 2, "first_line": 2}]


def test_no_warning_without_such_lines(write_lines):
    path = write_lines("all.txt", ["0 1 2 3 4", "", "1 2 3 4", "2 1 3 4"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_text(path)
        inter = build_interactions(DataConfig(source={"source": "text", "path": str(path)},
                                              split={"valid_ratio": 0, "test_ratio": 0}))
    assert [s["filter"] for s in inter.extras["preprocess"]] == ["dedupe"]


# ---- 5. k-core on given splits counts training rows only -------------------------
TRAIN_LINES = ["0 10 11 12", "1 10 11", "2 11 12 13", "3 10 14"]
# items 13 and 14 reach two interactions only with their test rows; user 4 is test-only
TEST_LINES = ["0 13", "1 12", "3 14", "4 10", "2 10"]


def _given_k_core(write_lines, test_lines):
    train = write_lines("train.txt", TRAIN_LINES)
    test = write_lines("test.txt", test_lines)
    cfg = DataConfig(source={"source": "text", "train": str(train), "test": str(test)},
                     preprocess={"min_user_interactions": 2, "min_item_interactions": 2})
    return build_interactions(cfg), train


def test_k_core_on_given_splits_counts_training_rows_only(write_lines):
    inter, train = _given_k_core(write_lines, TEST_LINES)
    alone = k_core(read_text(train), 2, 2)
    assert _pairs(inter) == set(zip(alone["user"].tolist(), alone["item"].tolist()))
    assert _pairs(inter) == {(0, 10), (0, 11), (0, 12), (1, 10), (1, 11), (2, 11), (2, 12)}
    # test rows of removed users/items (3, 4; 13, 14) are gone too
    assert _pairs(inter, "test") == {(1, 12), (2, 10)}
    assert inter.user_ids.tolist() == [0, 1, 2] and inter.item_ids.tolist() == [10, 11, 12]


def test_k_core_training_rows_do_not_depend_on_the_test_file(write_lines):
    first, _ = _given_k_core(write_lines, TEST_LINES)
    shuffled, _ = _given_k_core(write_lines, ["2 10", "4 10", "3 14", "1 12", "0 13"])
    assert first.fingerprint == shuffled.fingerprint
    other, _ = _given_k_core(write_lines, ["1 12", "0 13 14", "3 13 14", "5 13"])
    assert _pairs(other) == _pairs(first)
    assert _pairs(other, "test") == {(1, 12)}


def test_k_core_without_splits_unchanged():
    df = pd.DataFrame({"user": [0, 0, 1, 1, 2], "item": [5, 6, 5, 6, 5]})
    assert len(k_core(df, 2, 2)) == 4


# ---- 6. other silent misreads ------------------------------------------------------
def test_duplicate_header_name_is_an_error(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,user\n1,2,3\n")
    _raises(lambda: _table(path), "ratings.csv", "user column 'user' appears 2 times")
    path.write_text("user,item,x,x\n1,2,3,4\n")  # a repeated column nobody reads is harmless
    assert _table(path)["user"].tolist() == [1]
    df = pd.DataFrame([[1, 2, 3]], columns=["user", "item", "item"])
    _raises(lambda: from_dataframe(df), "DataFrame", "item column 'item' appears 2 times")


def test_wrong_separator_is_named(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user\titem\n1\t2\n")
    _raises(lambda: _table(path), "ratings.csv", "one column only", "separator")


def test_extra_field_is_not_taken_as_index(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item\n1,2,3\n4,5,6\n")  # pandas would shift every column silently
    _raises(lambda: _table(path), "ratings.csv", "more fields than the header")


def test_non_numeric_rating_names_the_line(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,stars\n1,2,5\n1,3,five\n")
    _raises(lambda: _table(path, rating_col="stars"), "ratings.csv:3:", "'stars' is not numeric: 'five'")

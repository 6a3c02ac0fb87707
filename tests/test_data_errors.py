"""Bad data and bad configs fail with messages that name the file, line, filter or field."""
from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from recsys_neg.data import DataConfig, build_interactions
from recsys_neg.data import catalog
from recsys_neg.data.sources.synthetic import SyntheticSource
from recsys_neg.data.sources.table import TableSource
from recsys_neg.data.readers import read_table, read_text
from recsys_neg.errors import DataError


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="nope.txt"):
        read_text(tmp_path / "nope.txt")
    cfg = DataConfig(source={"source": "text", "path": "missing/interactions.txt"})
    with pytest.raises(DataError) as err:
        build_interactions(cfg, base_dir=tmp_path)
    # both places it looked are listed: the working directory and the pipeline folder
    assert str(tmp_path / "missing/interactions.txt") in str(err.value)
    assert "looked in" in str(err.value)


def test_missing_gowalla_folder(tmp_path):
    with pytest.raises(DataError, match="no-such-dir"):
        build_interactions(DataConfig(source={"source": "gowalla", "path": str(tmp_path / "no-such-dir")}))


def test_malformed_line_names_file_and_line(write_lines):
    path = write_lines("train.txt", ["0 1 2", "1 3", "2 4,5 6"])
    with pytest.raises(DataError, match=r"train\.txt:3: non-integer id '4,5'"):
        read_text(path)


def test_non_integer_id(write_lines):
    path = write_lines("train.txt", ["0 1", "", "abc 2"])
    with pytest.raises(DataError, match=r"train\.txt:3: non-integer id 'abc'"):
        read_text(path)
    path = write_lines("valid.txt", ["0 1.5"])
    with pytest.raises(DataError, match=r"valid\.txt:1: non-integer id '1\.5'"):
        read_text(path)


def test_negative_id(write_lines):
    path = write_lines("train.txt", ["0 1", "1 2 3", "2 -4"])
    with pytest.raises(DataError, match=r"train\.txt:3: negative id -4"):
        read_text(path)


def test_empty_dataset(write_lines):
    path = write_lines("empty.txt", ["", "0", "1"])  # users without items only
    with pytest.raises(DataError, match=r"empty\.txt: no interactions"), pytest.warns(UserWarning):
        build_interactions(DataConfig(source={"source": "text", "path": str(path)}))


def test_empty_given_test_file_is_named(write_lines):
    train = write_lines("train.txt", ["0 1 2", "1 2"])
    test = write_lines("test.txt", ["0", "1"])
    cfg = DataConfig(source={"source": "text", "train": str(train), "test": str(test)})
    with pytest.raises(DataError, match=r"test file .*test\.txt has no interactions"), pytest.warns(UserWarning):
        build_interactions(cfg)


def test_k_core_emptying_everything_is_explained():
    cfg = DataConfig(source=SyntheticSource(n_users=50, n_items=40, mean_interactions=5),
                     preprocess={"min_user_interactions": 1000})
    with pytest.raises(DataError) as err:
        build_interactions(cfg)
    msg = str(err.value)
    assert "k-core(users>=1000" in msg and "users 50 -> 0" in msg and "items" in msg


def test_rating_threshold_emptying_everything_is_explained():
    df = pd.DataFrame({"user": [1, 2], "item": [3, 4], "rating": [1.0, 2.0]})
    cfg = DataConfig(preprocess={"rating_threshold": 4.5})
    with pytest.raises(DataError, match=r"rating_threshold=4\.5 removed every interaction: users 2 -> 0"):
        build_interactions(cfg, df=df)


def test_rating_threshold_without_ratings():
    df = pd.DataFrame({"user": [1, 2], "item": [3, 4]})
    with pytest.raises(DataError, match="no rating column"):
        build_interactions(DataConfig(preprocess={"rating_threshold": 1}), df=df)


def test_missing_column_in_csv(tmp_path):
    path = tmp_path / "ratings.csv"
    pd.DataFrame({"userId": [1], "movieId": [2]}).to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        read_table(TableSource(path=str(path), user_col="userId", item_col="item"))
    msg = str(err.value)
    assert "ratings.csv" in msg and "'item' not found" in msg and "userId, movieId" in msg


def test_missing_ids_in_table():
    df = pd.DataFrame({"user": ["a", None, "c"], "item": [1, 2, 3]})
    with pytest.raises(DataError, match="'user' has 1 missing values"):
        build_interactions(df=df)


def test_temporal_split_needs_timestamps(write_lines):
    path = write_lines("t.txt", ["0 1 2 3", "1 2 3 4"])
    cfg = DataConfig(source={"source": "text", "path": str(path)}, split={"method": "temporal"})
    with pytest.raises(DataError, match="'temporal' needs timestamps"):
        build_interactions(cfg)


def test_users_too_small_to_split(write_lines):
    path = write_lines("t.txt", ["0 1 2", "1 2 3"])
    with pytest.raises(DataError, match=r"split .random. left valid empty: no user has enough interactions"):
        build_interactions(DataConfig(source={"source": "text", "path": str(path)}))


@pytest.mark.parametrize("data,field", [
    ({"split": {"valid_ratio": 1.5}}, "valid_ratio"),
    ({"source": {"source": "text", "pathh": "x.txt"}}, "pathh"),
    ({"source": "synthetic", "n_users": "many"}, "n_users"),
    ({"source": {"source": "csv"}}, "source"),
    ({"preprocess": {"min_user_interactions": -1}}, "min_user_interactions"),
    ({"split": {"method": "given"}}, "given"),
    ({"source": "gowalla", "split": {"method": "random"}}, "split.method"),
])
def test_bad_config_field_is_named(data, field):
    with pytest.raises(ValidationError) as err:
        DataConfig.model_validate(data)
    assert field in str(err.value)


def test_unknown_dataset_download(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'imagenet'.*gowalla"):
        catalog.download("imagenet", cache_dir=tmp_path)

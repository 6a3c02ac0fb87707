"""Evaluating what was made elsewhere: a file of a run's own top-K gives exactly that run's
metrics; unknown ids, masked items and malformed files are reported, never silently dropped."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from recsys_neg.cli import app
from recsys_neg.config import load_config
from recsys_neg.errors import DataError
from recsys_neg.evaluation import Evaluator
from recsys_neg.evaluation.compare import compare_runs
from recsys_neg.evaluation.external import (RecommendationsWarning, evaluate_recommendations,
                                            evaluate_recommender, load_data)
from recsys_neg.evaluation.recommendations import read_recommendations
from recsys_neg.pipeline import run_pipeline
from recsys_neg.runs.assemble import build_parts
from recsys_neg.training.checkpoint import load_checkpoint

from helpers import TableModel

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["data.source.n_users=400", "data.source.n_items=300", "train.epochs=2", "train.progress=false",
         "train.threads=1", "tracking.enabled=false", "eval.beyond_accuracy=true"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A trained quickstart-size run and its test top-K (K = the largest eval K), with raw ids."""
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(ROOT / "pipelines/quickstart.yaml", [*QUICK, f"output_dir={out}"])
    result = run_pipeline(cfg, base_dir=ROOT / "pipelines")
    parts = build_parts(cfg, ROOT / "pipelines")
    parts.model.load_state_dict(load_checkpoint(result.out_dir / "best.ckpt")["model_state"])
    res = parts.evaluator.evaluate(parts.model, "test")
    data = parts.data
    rows, ranks = np.nonzero(res.top_items >= 0)
    lists = pd.DataFrame({"user": data.user_ids[res.users[rows]], "item": data.item_ids[res.top_items[rows, ranks]],
                          "rank": ranks + 1})
    return result, lists.sample(frac=1.0, random_state=0), data  # shuffled rows: order comes from rank


def _per_user(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "test_per_user.csv", float_precision="round_trip")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet"])
def test_a_runs_own_top_k_gives_exactly_its_metrics(run, tmp_path, fmt):
    result, lists, _ = run
    path = tmp_path / f"recs.{fmt}"
    if fmt == "parquet":
        lists.to_parquet(path, index=False)
    else:
        lists.to_csv(path, sep="\t" if fmt == "tsv" else ",", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecommendationsWarning)  # nothing unknown, masked or short here
        rec = evaluate_recommendations(path, result.out_dir, out_dir=tmp_path / "eval")
    pd.testing.assert_frame_equal(_per_user(rec.out_dir), _per_user(result.out_dir), check_exact=True)
    meta, own = (json.loads((d / "metrics.json").read_text()) for d in (rec.out_dir, result.out_dir))
    assert meta["test"] == own["test"] and meta["protocol"] == own["protocol"]
    assert meta["beyond_accuracy"]["metrics"] == own["beyond_accuracy"]["metrics"]
    assert meta["recommendations"]["masked"] == 0 and meta["recommendations"]["unknown_users"] == 0
    comp = compare_runs([result.out_dir, rec.out_dir], metrics=["recall@20"], n_boot=10)
    assert comp.rows[1]["note"] == "all differences zero"


def test_scores_order_lists_like_ranks_and_ties_keep_file_order(run, tmp_path):
    result, lists, data = run
    scored = lists.assign(score=1e-9 * (1000 - lists["rank"]) + 0.5).drop(columns="rank")  # float32 would tie these
    scored.to_csv(tmp_path / "s.csv", index=False)
    rec = evaluate_recommendations(tmp_path / "s.csv", result.out_dir, out_dir=tmp_path / "s")
    pd.testing.assert_frame_equal(_per_user(rec.out_dir), _per_user(result.out_dir), check_exact=True)
    tied = lists.sort_values(["user", "rank"]).assign(rank=1)  # every rank equal: file order decides
    tied.to_csv(tmp_path / "t.csv", index=False)
    rec = evaluate_recommendations(tmp_path / "t.csv", result.out_dir, out_dir=tmp_path / "t")
    pd.testing.assert_frame_equal(_per_user(rec.out_dir), _per_user(result.out_dir), check_exact=True)


def test_unknown_ids_and_masked_items_are_reported_with_lines(run, tmp_path):
    result, lists, data = run
    lists = lists.sort_values(["user", "rank"]).reset_index(drop=True)
    user0 = lists["user"].iloc[0]
    train_item = data.item_ids[data.train[np.searchsorted(data.user_ids, user0)].indices[0]]
    extra = pd.DataFrame({"user": [99999, 99998, user0, user0], "item": [lists["item"].iloc[0], 5, 77777, train_item],
                          "rank": [1, 1, 60, 0]})  # the training item goes first in user0's list
    pd.concat([lists, extra]).to_csv(tmp_path / "r.csv", index=False)
    n = len(lists)
    with pytest.warns(RecommendationsWarning) as caught:
        rec = evaluate_recommendations(tmp_path / "r.csv", result.out_dir, out_dir=tmp_path / "r")
    rep = rec.report
    assert rep.unknown_users == 2 and rep.unknown_items == 1 and rep.masked == 1
    assert rep.unknown_user_examples[0] == {"id": 99999, "where": f"{tmp_path / 'r.csv'}:{n + 2}"}
    assert rep.unknown_item_examples[0] == {"id": 77777, "where": f"{tmp_path / 'r.csv'}:{n + 4}"}
    assert any("masks them" in str(w.message) for w in caught)
    # the masked training item took no place: user0's lists evaluate as before
    pd.testing.assert_frame_equal(_per_user(rec.out_dir), _per_user(result.out_dir), check_exact=True)
    with pytest.raises(DataError, match=r"2 row\(s\) name a user.*99999.*strict"):
        evaluate_recommendations(tmp_path / "r.csv", result.out_dir, write=False, strict=True)


def test_malformed_files_name_the_line(run, tmp_path, write_lines):
    result, _, data = run
    u, i = data.user_ids[0], data.item_ids[0]
    cases = {
        "dup.csv": (["user,item,rank", f"{u},{i},1", f"{u},{data.item_ids[1]},2", f"{u},{i},3"],
                    r"dup.csv:4: the same \(user, item\) pair is listed twice \(first at .*dup.csv:2\)"),
        "norank.csv": (["user,item,weight", f"{u},{i},1"], r"needs a 'rank' .* or 'score'"),
        "nan.csv": (["user,item,score", f"{u},{i},0.5", f"{u},{data.item_ids[1]},high"],
                    r"nan.csv:3: column 'score' needs a finite number"),
        "neg.csv": (["user,item,rank", f"-{u + 1},{i},1"], r"neg.csv:2: column 'user': negative id"),
    }
    for name, (lines, message) in cases.items():
        with pytest.raises(DataError, match=message):
            read_recommendations(write_lines(name, lines), data)


def test_any_object_with_a_score_method_or_a_ranking_is_evaluated_like_a_model():
    from helpers import random_interactions

    data = random_interactions(40, 30, seed=2)
    table = np.random.default_rng(0).random((40, 30)).astype(np.float32)

    class Foreign:  # numpy in, numpy out: nothing of the engine
        def score(self, users):
            return table[users]

    expected = Evaluator(data, ks=(5, 10)).evaluate(TableModel(torch.from_numpy(table)), "test")
    for obj in (Foreign(), TableModel(torch.from_numpy(table))):
        got = evaluate_recommender(obj, data, "test", ks=(5, 10))
        assert got.metrics == expected.metrics
    with pytest.raises(TypeError, match="neither ranking"):
        evaluate_recommender(object(), data)


def test_cli_evaluates_a_file_against_a_pipeline(run, tmp_path, monkeypatch):
    result, lists, _ = run
    lists.to_csv(tmp_path / "recs.csv", index=False)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["evaluate", "--recommendations", str(tmp_path / "recs.csv"),
                                   "--data", str(ROOT / "pipelines/quickstart.yaml"),
                                   *[a for s in QUICK for a in ("--set", s)], "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(tmp_path / "cli" / "metrics.json")
    pd.testing.assert_frame_equal(_per_user(tmp_path / "cli"), _per_user(result.out_dir), check_exact=True)
    # the evaluation folder is itself a valid --data
    cfg, data, _ = load_data(tmp_path / "cli")
    assert data.fingerprint == json.loads((result.out_dir / "metrics.json").read_text())["data"]["fingerprint"]
    bad = CliRunner().invoke(app, ["evaluate", "--recommendations", str(tmp_path / "recs.csv")])
    assert bad.exit_code == 2 and "--data" in bad.output

import json
from pathlib import Path

from typer.testing import CliRunner

from recsys_neg.cli import app

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--set", "data.source.n_users=200", "--set", "data.source.n_items=150",
         "--set", "train.epochs=2", "--set", "train.progress=false"]


def test_train_prints_metrics_path_and_tracks_in_sqlite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    res = CliRunner().invoke(app, ["train", str(ROOT / "pipelines/quickstart.yaml"), *QUICK,
                                   "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    path = Path(res.output.strip().splitlines()[-1])
    metrics = json.loads(path.read_text())
    assert metrics["test"]["recall@20"] > 0 and metrics["run_id"]
    assert (path.parent / "config.json").exists() and (path.parent / "best.ckpt").exists()

    from mlflow.tracking import MlflowClient

    run = MlflowClient(uri).get_run(metrics["run_id"])
    assert run.info.status == "FINISHED"
    assert "test_recall_at_20" in run.data.metrics and run.data.params["sampler.name"] == "uniform"

    ev = CliRunner().invoke(app, ["evaluate", str(path.parent), "--split", "test"])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.output)["test"]["metrics"]["recall@20"] == metrics["test"]["recall@20"]


def test_bad_override_fails_with_field_path_before_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["train", str(ROOT / "pipelines/quickstart.yaml"),
                                   "--set", "train.batch_size=-3"])
    assert res.exit_code == 2
    assert "train.batch_size" in res.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlruns.db").exists()


def test_datasets_lists_builtin_and_downloadable():
    res = CliRunner().invoke(app, ["datasets"])
    assert res.exit_code == 0, res.output
    for name in ("synthetic", "gowalla", "yelp2018", "amazon-book", "movielens-1m"):
        assert name in res.output


def test_evaluate_missing_checkpoint_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(app, ["evaluate", str(tmp_path)])
    assert res.exit_code == 2 and "no checkpoint" in res.output

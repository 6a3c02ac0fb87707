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


def _probe(*argv) -> dict:
    """Run the CLI in a fresh interpreter and report which heavy libraries it imported."""
    import subprocess
    import sys

    code = ("import sys\nfrom recsys_neg.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', *[m for m in ('torch', 'mlflow', 'optuna', 'torch_geometric') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith("LOADED")][-1]
    return {"loaded": line.split()[1:], "stdout": out.stdout, "stderr": out.stderr}


def test_help_datasets_and_config_errors_answer_before_heavy_imports(tmp_path):
    assert _probe("--help")["loaded"] == []
    assert _probe("datasets")["loaded"] == []
    bad = _probe("train", str(ROOT / "pipelines/quickstart.yaml"), "--set", "train.epochz=1")
    assert bad["loaded"] == [] and "train.epochz" in bad["stderr"]


def test_redirected_output_logs_one_line_per_epoch(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "recsys_neg", "train", str(ROOT / "pipelines/quickstart.yaml"),
                          "--set", "data.source.n_users=200", "--set", "data.source.n_items=150",
                          "--set", "train.epochs=3", "--set", "tracking.enabled=false",
                          "--set", f"output_dir={tmp_path}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if x.startswith("epoch ")]
    assert [x.split()[1] for x in lines] == ["1/3", "2/3", "3/3"]
    for x in lines:  # loss, speed, validation and ETA on every line
        assert "loss" in x and "positives/s" in x and "valid recall@20" in x and "ETA" in x


def test_impossible_negative_count_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["train", str(ROOT / "pipelines/quickstart.yaml"),
                                   "--set", "sampler.num_negatives=5000", "--set", "tracking.enabled=false"])
    assert res.exit_code == 2
    assert "sampler.num_negatives=5000" in res.output and "exclude_positives: false" in res.output
    assert not (tmp_path / "runs").exists()
    with __import__("pytest").warns(UserWarning, match="drawn with replacement"):
        res = CliRunner().invoke(app, ["train", str(ROOT / "pipelines/quickstart.yaml"), *QUICK,
                                       "--set", "sampler.num_negatives=400", "--set", "sampler.exclude_positives=false",
                                       "--set", "tracking.enabled=false"])
    assert res.exit_code == 0, res.output

"""Run comparison: statistics against scipy and hand formulas, refusals, output files, CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from recsys_neg.cli import app
from recsys_neg.errors import ConfigError
from recsys_neg.evaluation import compare as cmp
from recsys_neg.evaluation.compare import bootstrap_ci, compare_runs, holm
from recsys_neg.evaluation.compare_report import FILES, log_comparison, to_markdown, write_outputs

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("recall@20", "ndcg@20")


def make_run(root: Path, name: str, values: dict[str, np.ndarray], users=None, fingerprint="0123456789ab",
             valid=50, protocol=None, shuffle_seed=None) -> Path:
    """A run folder written by hand: known per-user vectors, minimal metrics.json and config.json."""
    folder = root / name
    folder.mkdir(parents=True)
    n = len(next(iter(values.values())))
    frame = pd.DataFrame({"user": np.arange(n) if users is None else users, **values})
    if shuffle_seed is not None:  # row order must not matter: runs are paired on the user column
        frame = frame.sample(frac=1.0, random_state=shuffle_seed)
    frame.to_csv(folder / "test_per_user.csv", index=False)
    meta = {"name": name, "data": {"name": "hand", "users": n, "items": 100, "train": 1000, "valid": valid,
                                   "test": 300, "density": 0.1, "fingerprint": fingerprint},
            "best_epoch": 1, "test": {k: float(np.mean(v)) for k, v in values.items()}, "valid": {},
            "history": [], "run_id": None}
    if protocol is not None:
        meta["protocol"] = protocol
    (folder / "metrics.json").write_text(json.dumps(meta))
    (folder / "config.json").write_text(json.dumps({"model": {"name": "mf"}}))
    return folder


def vectors(seed: int, n: int = 80, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {m: np.clip(rng.random(n) * 0.5 + shift + rng.normal(0, 0.05, n), 0, 1) for m in METRICS}


@pytest.fixture
def three_runs(tmp_path):
    vals = [vectors(0), vectors(1, shift=0.05), vectors(2, shift=0.01)]
    paths = [make_run(tmp_path, "base", vals[0]), make_run(tmp_path, "a", vals[1]),
             make_run(tmp_path, "b", vals[2], shuffle_seed=3)]
    return paths, vals


def rows_of(comp, role="run"):
    return {(r["run"], r["metric"]): r for r in comp.rows if r["role"] == role}


def test_pvalues_equal_scipy_on_the_same_vectors(three_runs):
    paths, vals = three_runs
    rows = rows_of(compare_runs(paths, n_boot=200))
    assert len(rows) == 4
    for label, v in (("a", vals[1]), ("b", vals[2])):
        for m in METRICS:
            row = rows[label, m]
            assert row["p_t"] == pytest.approx(stats.ttest_rel(v[m], vals[0][m]).pvalue, rel=1e-12)
            assert row["p_wilcoxon"] == pytest.approx(
                stats.wilcoxon(v[m] - vals[0][m], zero_method="wilcox").pvalue, rel=1e-12)
            assert row["diff"] == pytest.approx(np.mean(v[m] - vals[0][m]), rel=1e-12)
            assert row["rel_diff"] == pytest.approx(row["diff"] / np.mean(vals[0][m]), rel=1e-12)


def test_holm_matches_hand_computation_and_caps_at_one():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01=0.03, 2*0.03=0.06, max(1*0.04, 0.06)=0.06 (monotone)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # sorted 0.01, 0.6, 0.7 -> 0.03, min(1, 1.2)=1, max(0.7, 1.2) capped at 1
    assert holm([0.6, 0.7, 0.01]) == pytest.approx([1.0, 1.0, 0.03])
    assert holm([0.2]) == pytest.approx([0.2])


def test_holm_runs_per_metric_over_the_non_baseline_runs(three_runs):
    paths, _ = three_runs
    comp = compare_runs(paths, n_boot=200)
    for m in METRICS:
        rows = [r for r in comp.rows if r["metric"] == m and r["role"] == "run"]
        for key in ("p_t", "p_wilcoxon"):
            raw = sorted(r[key] for r in rows)
            expected = {raw[0]: min(1, 2 * raw[0]), raw[1]: min(1, max(2 * raw[0], raw[1]))}
            for r in rows:
                assert r[f"{key}_holm"] == pytest.approx(expected[r[key]])
                assert r[f"sig_{key[2:]}"] == (r[f"{key}_holm"] < comp.alpha)


def test_cohens_dz_is_mean_over_std_of_differences(three_runs):
    paths, vals = three_runs
    rows = rows_of(compare_runs(paths, n_boot=200))
    for m in METRICS:
        d = vals[1][m] - vals[0][m]
        assert rows["a", m]["d_z"] == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-12)


def test_bootstrap_ci_contains_mean_is_seeded_and_matches_normal_width():
    rng = np.random.default_rng(7)
    d = rng.normal(0.02, 0.1, 300)
    low, high = bootstrap_ci(d, 10000, seed=0)
    assert low < d.mean() < high
    assert bootstrap_ci(d, 10000, seed=0) == (low, high)
    assert bootstrap_ci(d, 10000, seed=1) != (low, high)
    # for a mean of 300 near-normal values the percentile interval is close to mean +- 1.96 se
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    assert low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert high == pytest.approx(d.mean() + half, abs=0.1 * half)


def test_bootstrap_columns_share_draws_and_chunking_does_not_change_them(monkeypatch):
    d = np.random.default_rng(1).normal(size=(50, 3))
    lows, highs = bootstrap_ci(d, 500, seed=4)
    for j in range(3):
        assert (lows[j], highs[j]) == pytest.approx(bootstrap_ci(d[:, j], 500, seed=4), rel=1e-12)
    monkeypatch.setattr(cmp, "_BOOT_CELLS", 120)  # two resamples per chunk
    assert bootstrap_ci(d[:, 0], 500, seed=4) == pytest.approx((lows[0], highs[0]), rel=1e-12)


def test_constant_shift_collapses_ci_and_all_zero_differences_give_p_one(tmp_path):
    base = vectors(0)
    c = 0.03
    paths = [make_run(tmp_path, "base", base), make_run(tmp_path, "shift", {m: v + c for m, v in base.items()}),
             make_run(tmp_path, "same", base)]
    rows = rows_of(compare_runs(paths, n_boot=500))
    for m in METRICS:
        shift = rows["shift", m]
        assert shift["ci_low"] == pytest.approx(c, abs=1e-12) and shift["ci_high"] == pytest.approx(c, abs=1e-12)
        same = rows["same", m]
        assert same["p_t"] == 1.0 and same["p_wilcoxon"] == 1.0
        assert "all differences zero" in same["note"]
        assert same["diff"] == 0.0 and same["ci_low"] == 0.0 == same["ci_high"]


def test_refuses_different_fingerprints(tmp_path):
    a = make_run(tmp_path, "run_a", vectors(0), fingerprint="aaaaaaaaaaaa")
    b = make_run(tmp_path, "run_b", vectors(1), fingerprint="bbbbbbbbbbbb")
    with pytest.raises(ConfigError) as err:
        compare_runs([a, b])
    msg = str(err.value)
    assert "run_a" in msg and "run_b" in msg and "aaaaaaaaaaaa" in msg and "bbbbbbbbbbbb" in msg


def test_refuses_different_masks(tmp_path):
    proto = {"split": "test", "ranking": "full"}
    a = make_run(tmp_path, "run_a", vectors(0), protocol={**proto, "masked": ["train", "valid"]})
    b = make_run(tmp_path, "run_b", vectors(1), protocol={**proto, "masked": ["train"]})
    with pytest.raises(ConfigError) as err:
        compare_runs([a, b])
    msg = str(err.value)
    assert "run_a" in msg and "run_b" in msg and "masked" in msg
    assert "['train', 'valid'] vs ['train']" in msg


def test_protocol_is_derived_for_runs_without_one(tmp_path):
    # no protocol field: train + valid are masked when the data has a valid split
    old = make_run(tmp_path, "old", vectors(0), valid=50)
    new = make_run(tmp_path, "new", vectors(1), protocol={"split": "test", "ranking": "full",
                                                          "masked": ["valid", "train"]})
    assert compare_runs([old, new], n_boot=50).protocol["masked"] == ["train", "valid"]
    no_valid = make_run(tmp_path, "no_valid", vectors(2), valid=0)
    with pytest.raises(ConfigError, match=r"masked: \['train'\] vs \['train', 'valid'\]"):
        compare_runs([no_valid, new])


def test_refuses_different_user_sets_and_counts_them(tmp_path):
    a = make_run(tmp_path, "run_a", vectors(0))
    users = np.r_[np.arange(3, 80), [100]]  # users 0..2 missing, user 100 extra
    b = make_run(tmp_path, "run_b", vectors(1, n=78), users=users)
    with pytest.raises(ConfigError) as err:
        compare_runs([a, b])
    msg = str(err.value)
    assert "3 user(s) only in" in msg and "1 only in" in msg and "run_a" in msg and "run_b" in msg


@pytest.mark.parametrize("broken, expected", [
    ("test_per_user.csv", "test_per_user.csv"), ("metrics.json", "metrics.json"), ("config.json", "config.json")])
def test_missing_or_malformed_files_name_folder_and_file(tmp_path, broken, expected):
    a = make_run(tmp_path, "run_a", vectors(0))
    b = make_run(tmp_path, "run_b", vectors(1))
    (b / broken).unlink()
    with pytest.raises(ConfigError, match=rf"run_b.*{expected}"):
        compare_runs([a, b])
    (b / broken).write_text("{not json" if broken.endswith(".json") else "user,recall@20\n1,oops\n")
    with pytest.raises(ConfigError, match=rf"run_b.*{expected}"):
        compare_runs([a, b])


def test_baseline_by_index_or_path_and_metric_selection(three_runs):
    paths, vals = three_runs
    by_index = compare_runs(paths, baseline=1, metrics=["ndcg@20"], n_boot=100)
    by_path = compare_runs(paths, baseline=str(paths[1]), metrics=["ndcg@20"], n_boot=100)
    for comp in (by_index, by_path):
        assert comp.metrics == ["ndcg@20"] and {r["metric"] for r in comp.rows} == {"ndcg@20"}
        assert rows_of(comp, "baseline").keys() == {("a", "ndcg@20")}
        assert rows_of(comp)["base", "ndcg@20"]["diff"] == pytest.approx(
            np.mean(vals[0]["ndcg@20"] - vals[1]["ndcg@20"]))
    with pytest.raises(ConfigError, match="hit@20"):
        compare_runs(paths, metrics=["hit@20"])
    with pytest.raises(ConfigError, match="--baseline 7"):
        compare_runs(paths, baseline=7)


def test_outputs_exist_and_csv_round_trips_the_json(three_runs, tmp_path):
    paths, _ = three_runs
    comp = compare_runs(paths, n_boot=300)
    files = write_outputs(comp, tmp_path / "out")
    assert [f.name for f in files] == list(FILES)
    assert all(f.stat().st_size > 0 for f in files)
    assert files[3].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob("*.tmp*"))
    doc = json.loads(files[2].read_text())
    csv = pd.read_csv(files[1], float_precision="round_trip", keep_default_na=False, na_values=[""])
    assert len(csv) == len(doc["rows"]) == 3 * len(METRICS)
    numeric = ["mean", "baseline_mean", "diff", "rel_diff", "d_z", "ci_low", "ci_high",
               "p_t", "p_t_holm", "p_wilcoxon", "p_wilcoxon_holm"]
    for row, (_, line) in zip(doc["rows"], csv.iterrows()):
        assert (row["run"], row["metric"], row["role"]) == (line["run"], line["metric"], line["role"])
        for key in numeric:
            if row[key] is None:
                assert pd.isna(line[key])
            else:
                assert float(line[key]) == row[key]
    md = files[0].read_text()
    assert md == to_markdown(comp)
    for label in ("base", "a", "b"):
        assert f"`{label}`" in md
    for label, n_rows in (("a", 1), ("b", 1), ("base", 0)):  # one comparison row per non-baseline run
        assert md.count(f"| `{label}` | recall@20 |") == n_rows


def test_comparison_is_logged_to_mlflow(three_runs, tmp_path):
    from mlflow.tracking import MlflowClient

    paths, _ = three_runs
    comp = compare_runs(paths, n_boot=100)
    files = write_outputs(comp, tmp_path / "out")
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    run_id = log_comparison(comp, files, uri)
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["kind"] == "comparison"
    assert run.data.params["baseline"] == str(paths[0].resolve())
    assert run.data.params["run2"] == str(paths[2].resolve())
    diff = rows_of(comp)["a", "recall@20"]["diff"]
    assert run.data.metrics["run1_diff_recall_at_20"] == pytest.approx(diff)
    assert {a.path for a in client.list_artifacts(run_id)} == set(FILES)


def test_cli_compare_end_to_end_on_two_trained_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = []
    for dim in (16, 8):
        res = CliRunner().invoke(app, [
            "train", str(ROOT / "pipelines/quickstart.yaml"), "--set", "data.source.n_users=200",
            "--set", "data.source.n_items=150", "--set", "train.epochs=1", "--set", "train.progress=false",
            "--set", "tracking.enabled=false", "--set", "train.threads=1",
            "--set", f"model.embedding_dim={dim}"])
        assert res.exit_code == 0, res.output
        runs.append(Path(res.output.strip().splitlines()[-1]).parent)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = tmp_path / "cmp"
    proc = subprocess.run([sys.executable, "-m", "recsys_neg", "compare", *map(str, runs), "--out", str(out),
                           "--bootstrap", "500"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    assert "| recall@20 |" in proc.stdout and runs[1].name in proc.stdout
    assert all((out / name).is_file() for name in FILES)
    doc = json.loads((out / "comparison.json").read_text())
    test_means = json.loads((runs[1] / "metrics.json").read_text())["test"]
    row = next(r for r in doc["rows"] if r["role"] == "run" and r["metric"] == "recall@20")
    assert row["mean"] == pytest.approx(test_means["recall@20"], rel=1e-6)

    bad = CliRunner().invoke(app, ["compare", str(runs[0]), str(tmp_path)])  # not a run folder
    assert bad.exit_code == 2 and "metrics.json" in bad.output

"""The comparison reports read the harness's JSON and state verdicts that follow from the numbers."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from scipy.stats import ttest_ind

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import frontier_report  # noqa: E402
import time_to_quality  # noqa: E402

META = {"budget_s": 150.0, "eval_every_s": 30.0, "seeds": [1, 2, 3], "clock": "cpu", "command": "python x",
        "load_range": "1.0-2.0", "references": []}


def run(name: str, seed: int, recall: float | None) -> dict:
    if recall is None:  # finished no epoch within the budget
        return {"name": name, "seed": seed, "final": None, "load1_before": 1.0, "load1_after": 1.0,
                "select": {"curve": [], "best": None, "train_s": 150.0, "eval_s": 0.0, "epochs": 0,
                           "s_per_epoch": None}}
    point = {"epoch": 3, "train_s": 30.0, "recall@20": recall, "ndcg@20": recall / 2}
    return {"name": name, "seed": seed, "load1_before": 1.0, "load1_after": 1.0,
            "select": {"curve": [point], "best": point, "train_s": 130.0, "eval_s": 5.0, "epochs": 3,
                       "s_per_epoch": 4.0},
            "final": {"epochs": 3, "train_s": 140.0, "stopped": "epochs",
                      "test": {"recall@20": recall, "ndcg@20": recall / 2}}}


def write(path: Path, runs: dict[str, list[float | None]], **meta) -> Path:
    doc = {"meta": {**META, **meta}, "runs": [run(n, s + 1, v) for n, vals in runs.items() for s, v in enumerate(vals)]}
    path.write_text(json.dumps(doc))
    return path


def rows(text: list[str]) -> dict[str, list[str]]:
    return {cells[1]: cells for line in text if line.startswith("| ") and not line.startswith("| family")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]}


def test_verdicts_follow_the_seeds(tmp_path):
    bpr = write(tmp_path / "samplers_gowalla.json", {
        "gowalla_samplers_uniform": [0.140, 0.141, 0.139],
        "gowalla_samplers_dns": [0.166, 0.167, 0.168],
        "gowalla_samplers_mixed": [0.162, 0.163, 0.164],
        "frontier_mf_bpr_better": [0.175, 0.176, 0.174],
        "frontier_mf_bpr_same": [0.165, 0.169, 0.167],
        "frontier_mf_bpr_worse": [0.150, 0.151, 0.149]})
    inbatch = write(tmp_path / "frontier_inbatch.json", {
        "frontier_mf_softmax_inbatch": [0.100, 0.101, 0.099], "frontier_mf_softmax_xbm": [None, None, None],
        "frontier_mf_softmax_clustered": [0.110, 0.111, 0.109]})
    table = rows(frontier_report.quality_section([bpr, inbatch]))
    assert table["frontier_mf_bpr_better"][-1] == "helps: above DNS"
    assert table["frontier_mf_bpr_same"][-1] == "no significant difference from DNS"
    assert table["frontier_mf_bpr_worse"][-1] == "does not help: below DNS"
    assert table["gowalla_samplers_dns"][-1] == "baseline"
    p = ttest_ind([0.175, 0.176, 0.174], [0.166, 0.167, 0.168], equal_var=False).pvalue
    assert table["frontier_mf_bpr_better"][9] == f"+0.0080 (p {p:.2g})"  # Δ vs DNS: 0.175 - 0.167
    assert table["frontier_mf_bpr_better"][7] == "0.1750 @ 3"  # validation at the family's common epoch
    assert table["frontier_mf_bpr_better"][3] == "0.1750 ± 0.0010"
    assert "no epoch within the budget" in table["frontier_mf_softmax_xbm"]
    assert table["frontier_mf_softmax_clustered"][-1] == "does not help: below DNS; above its family baseline"


def test_families_under_different_settings_are_refused(tmp_path):
    a = write(tmp_path / "samplers_gowalla.json", {"gowalla_samplers_uniform": [0.14, 0.14, 0.14]})
    b = write(tmp_path / "frontier_losses.json", {"frontier_mf_softmax_uniform": [0.1, 0.1, 0.1]}, budget_s=300.0)
    with pytest.raises(SystemExit, match="budget"):
        frontier_report.quality_section([a, b])


def test_harness_table_keeps_a_recipe_that_finished_no_epoch(tmp_path):
    path = write(tmp_path / "ttq.json", {"fast": [0.15, 0.16, 0.17], "slow": [None, None, None]})
    time_to_quality.render(path)
    table = path.with_suffix(".md").read_text()
    assert "| fast | 3 | 0.1600 ± 0.0100 |" in table
    assert "| slow | 3 | no epoch finished within the budget |" in table
    assert path.with_suffix(".png").stat().st_size > 0


def test_runs_side_by_side_reach_the_json_as_they_finish_and_need_the_cpu_clock(tmp_path):
    import threading

    both_started = threading.Barrier(2, timeout=10)  # fails unless the two tasks really overlap

    def task(name):
        def go():
            both_started.wait()
            return run(name, 1, 0.1)
        return go

    results = time_to_quality.Results(tmp_path / "r.json", {"budget_s": 1.0})
    time_to_quality.run_all([task("a"), task("b")], 2, results, "cpu")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert sorted(r["name"] for r in saved["runs"]) == ["a", "b"]
    with pytest.raises(SystemExit, match="--clock cpu"):
        time_to_quality.run_all([task("c")], 2, results, "wall")


def test_budget_map_names_the_best_recipe_within_each_budget(tmp_path):
    import budget_map

    def curve_run(name, seed, points, reference=False):
        r = run(name, seed, 0.15)
        r["select"]["curve"] = [{"epoch": i + 1, "train_s": t, "recall@20": v} for i, (t, v) in enumerate(points)]
        r["select"]["best"] = max(r["select"]["curve"], key=lambda p: p["recall@20"])
        return r

    fast = {"meta": {**META, "budget_s": 150.0},  # early leader, short run
            "runs": [curve_run("fast", 1, [(30, 0.15), (120, 0.17)]), curve_run("fast", 2, [(30, 0.13), (120, 0.19)])]}
    slow = {"meta": {**META, "budget_s": 1800.0, "references": ["als"]},
            "runs": [curve_run("slow", 1, [(30, 0.05), (500, 0.19), (1500, 0.21)]),
                     curve_run("als", 1, [(5, 0.18)])]}
    (tmp_path / "a.json").write_text(json.dumps(fast))
    (tmp_path / "b.json").write_text(json.dumps(slow))
    recipes, clock, tests = budget_map.load_runs([tmp_path / "a.json", tmp_path / "b.json"])
    md = budget_map.table(recipes, tests, clock, "cmd")
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if " min |" in line}
    assert "fast (0.1400)" in rows["1 min"] and "slow (0.0500)" in rows["1 min"]  # mean of the seeds' bests
    assert "fast (0.1800)" in rows["2.5 min"]
    assert rows["10 min"].split(" | ")[1] == "slow (0.1900)"  # fast's run was too short to count at 10 min
    assert rows["30 min"].split(" | ")[1] == "slow (0.2100)" and rows["30 min"].endswith("0.1800 |")
    (tmp_path / "c.json").write_text(json.dumps({**fast, "meta": {**fast["meta"], "clock": "wall"}}))
    with pytest.raises(SystemExit, match="different clocks"):
        budget_map.load_runs([tmp_path / "a.json", tmp_path / "c.json"])

"""Baselines and the engine's recipes on Gowalla in one ``compare`` table (train+valid -> test).

Trains each given pipeline once, sequentially, through the CLI (one process per run, one
thread each), adds any finished run folders given with ``--runs``, then compares them all
against the baseline (default: ALS) with paired tests on the per-user test metrics.
Beyond-accuracy metrics are switched on for every trained pipeline and tabulated next to
the comparison. Writes ``<out>/comparison.{md,csv,json,png}``, ``<out>/beyond_accuracy.md``
and ``<out>/runs.json`` (commands, wall seconds, load, ``uptime``).

    python benchmarks/compare_baselines.py                                  # ALS, ItemKNN, MostPop
    python benchmarks/compare_baselines.py --pipelines pipelines/gowalla_als.yaml \\
        pipelines/gowalla_ease.yaml --runs runs/best-recipe-...              # EASE (12.5 GiB peak) + a recipe
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["pipelines/gowalla_als.yaml", "pipelines/gowalla_itemknn.yaml", "pipelines/gowalla_mostpop.yaml"]


def train(pipeline: str, data: str, extra: list[str], output_dir: Path) -> dict:
    cmd = [sys.executable, "-m", "recsys_neg", "train", pipeline, "--set", f"data.source.path={data}",
           "--set", "tracking.enabled=false", "--set", "train.progress=false", "--set", "train.threads=1",
           "--set", "eval.beyond_accuracy=true", "--set", f"output_dir={output_dir}"]
    for s in extra:
        cmd += ["--set", s]
    print("$", " ".join(cmd), flush=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{pipeline} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    metrics_file = Path(proc.stdout.strip().splitlines()[-1])
    metrics_file = metrics_file if metrics_file.is_absolute() else ROOT / metrics_file
    meta = json.loads(metrics_file.read_text())
    return {"pipeline": pipeline, "command": cmd, "run_dir": str(metrics_file.parent), "wall_seconds": wall,
            "train_seconds": meta["train_seconds"], "uptime_before": uptime, "test": meta["test"],
            "beyond_accuracy": (meta.get("beyond_accuracy") or {}).get("metrics", {})}


def beyond_table(rows: list[dict], k: int = 20) -> str:
    keys = ["coverage", "gini", "avg_pop", "long_tail", "novelty"]
    buckets = sorted({key.split("@")[0] for r in rows for key in r["beyond_accuracy"] if key.startswith("recall_pop")})
    head = ["run", f"recall@{k}"] + [f"{m}@{k}" for m in keys + buckets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        b = r["beyond_accuracy"]
        cells = [Path(r["run_dir"]).name, f"{r['test'].get(f'recall@{k}', float('nan')):.4f}"]
        cells += [f"{b[f'{m}@{k}']:.4f}" if f"{m}@{k}" in b else "" for m in keys + buckets]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipelines", nargs="*", default=DEFAULT, help="pipelines to train (paths from the repo root)")
    ap.add_argument("--runs", nargs="*", default=[], help="finished run folders to add (e.g. the best recipe)")
    ap.add_argument("--data", default="../shared/datasets/gowalla")
    ap.add_argument("--baseline", default="gowalla_als", help="name prefix of the baseline run folder")
    ap.add_argument("--set", dest="extra", action="append", default=[], help="override for every pipeline")
    ap.add_argument("--metric", action="append", default=None, help="metrics to compare (default: recall@20, ndcg@20)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/out/compare_baselines"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [train(p, args.data, args.extra, out / "runs") for p in args.pipelines]
    for r in args.runs:
        meta = json.loads((Path(r) / "metrics.json").read_text())
        rows.append({"pipeline": None, "run_dir": str(Path(r).resolve()), "test": meta["test"],
                     "beyond_accuracy": (meta.get("beyond_accuracy") or {}).get("metrics", {})})
    (out / "runs.json").write_text(json.dumps(rows, indent=2))

    sys.path.insert(0, str(ROOT))
    from recsys_neg.evaluation.compare import compare_runs
    from recsys_neg.evaluation.compare_report import to_markdown, write_outputs

    dirs = [r["run_dir"] for r in rows]
    base = next((d for d in dirs if Path(d).name.startswith(args.baseline)), dirs[0])
    comp = compare_runs(dirs, base, args.metric or ["recall@20", "ndcg@20"])
    write_outputs(comp, out)
    table = beyond_table(rows)
    (out / "beyond_accuracy.md").write_text(table + "\n")
    print(to_markdown(comp))
    print(table)
    print(out)


if __name__ == "__main__":
    main()

"""MF-BPR on Gowalla (train+valid -> test, full ranking) with each negative sampler, same budget.

Runs the CLI once per sampler, sequentially (one run at a time on a small machine),
and writes benchmarks/out/compare_samplers.json plus a markdown table on stdout.

    python benchmarks/compare_samplers.py --data /work/shared/datasets/gowalla --epochs 20
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
BASE = "pipelines/gowalla_mf_bpr.yaml"
RUNS = {
    "uniform": (BASE, ["sampler={name: uniform}"]),
    "popularity (α=0.75)": (BASE, ["sampler={name: popularity, alpha: 0.75}"]),
    "dns (32 candidates)": (BASE, ["sampler={name: dns, candidates: 32}"]),
    "mixed (dns 0.5 + uniform 0.5)": ("pipelines/gowalla_samplers_mixed.yaml", []),
    "als_static (top-200, 0.5 uniform)": ("pipelines/gowalla_samplers_als_static.yaml", []),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/gowalla")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--only", nargs="*", help="run only these labels' first words (e.g. uniform dns)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/out/compare_samplers.json"))
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}
    for label, (pipeline, sets) in RUNS.items():
        if args.only and label.split()[0] not in args.only:
            continue
        cmd = ["recsys-neg", "train", pipeline, "--set", f"data.source.path={args.data}",
               "--set", f"train.epochs={args.epochs}", "--set", "tracking.enabled=false",
               "--set", "train.progress=false", "--set", "output_dir=runs/compare_samplers"]
        for s in sets:
            cmd += ["--set", s]
        print("$", " ".join(repr(c) if " " in c else c for c in cmd), flush=True)
        load = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            continue
        metrics_path = ROOT / proc.stdout.strip().splitlines()[-1]
        m = json.loads(metrics_path.read_text())
        hist = m["history"]
        results[label] = {
            "command": cmd, "epochs": len(hist), "train_seconds": m["train_seconds"], "wall_seconds": wall,
            "epoch_seconds_mean": sum(h["epoch_seconds"] for h in hist) / len(hist),
            "sampling_seconds_mean": sum(h.get("time_sampling", 0) for h in hist) / len(hist),
            "test": m["test"], "load_before": load, "load_after": os.getloadavg(),
            "metrics_file": str(metrics_path),
        }
        out.write_text(json.dumps(results, indent=2))
        r = results[label]
        print(f"  {label}: recall@20 {r['test']['recall@20']:.4f} ndcg@20 {r['test']['ndcg@20']:.4f} "
              f"train {r['train_seconds']:.0f}s load {load[0]:.1f}", flush=True)
    print("\n| sampler | Recall@20 | NDCG@20 | train s (total) | s/epoch | sampling s/epoch | load 1-min |")
    print("|---|---|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {r['test']['recall@20']:.4f} | {r['test']['ndcg@20']:.4f} | "
              f"{r['train_seconds']:.0f} | {r['epoch_seconds_mean']:.1f} | {r['sampling_seconds_mean']:.2f} | "
              f"{r['load_before'][0]:.1f} |")


if __name__ == "__main__":
    main()

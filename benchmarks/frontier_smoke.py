"""Each frontier recipe trains a few steps on Gowalla: time per step, refresh cost included.

    python benchmarks/frontier_smoke.py [--budget 20] [--recipes pipelines/frontier_*.yaml]

Runs every recipe once, one process at a time, as ``recsys-neg train`` with
``train.epochs=1 train.time_budget_s=BUDGET train.threads=1``, no tracking and no test
evaluation (the split is the recipe's own, train+valid). The clustered recipe also gets
``batching.warmup_epochs=0`` so that its k-means runs in the one epoch. From each run's
first (only) epoch record: steps, seconds per step over the epoch (index refresh or
k-means at the epoch's start included) and per step of the step phases alone
(sampling + forward + backward + optimizer), plus the sampler's and batch order's
diagnostics. ``uptime`` is recorded around each run. This is a check that every recipe
runs, and what a step costs; it says nothing about quality (that is
benchmarks/time_to_quality.py's job). Writes benchmarks/results/frontier_steps.json.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from time_to_quality import train  # noqa: E402

PHASES = ("time_sampling", "time_forward", "time_backward", "time_optimizer")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", nargs="*", default=sorted(glob.glob(str(ROOT / "pipelines/frontier_*.yaml"))))
    ap.add_argument("--budget", type=float, default=20.0, help="training seconds per recipe")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/gowalla"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/frontier_steps.json")
    args = ap.parse_args()
    work = ROOT / "benchmarks/out/frontier_smoke"
    doc = {"command": " ".join(["python", *sys.argv]), "budget_s": args.budget, "started": time.ctime(), "runs": []}
    for recipe in args.recipes:
        name = Path(recipe).stem
        extra = ["batching.warmup_epochs=0"] if "clustered" in name else []
        before = uptime()
        t0 = time.perf_counter()
        res = train(recipe, [f"data.source.path={args.data}", "train.epochs=1", f"train.time_budget_s={args.budget}",
                             "train.threads=1", "tracking.enabled=false", "eval.test=false",
                             f"output_dir={work / 'runs'}", *extra], work / "logs" / f"{name}.log")
        h = res["history"][0]
        n_train = h["positives_per_s"] * h["epoch_seconds"]
        steps = max(1, math.ceil(round(n_train) / 2048))
        phases = sum(h.get(p, 0.0) for p in PHASES)
        run = {"recipe": name, "overrides": extra, "steps": steps, "epoch_seconds": h["epoch_seconds"],
               "s_per_step": h["epoch_seconds"] / steps, "step_phases_s_per_step": phases / steps,
               "phases_s": {p: h.get(p, 0.0) for p in PHASES}, "train_loss": h.get("train_loss"),
               "diagnostics": {k: v for k, v in h.items() if k.startswith(("ann_", "xbm_", "clustered_", "temperature"))},
               "process_wall_s": time.perf_counter() - t0, "uptime_before": before, "uptime_after": uptime()}
        doc["runs"].append(run)
        print(json.dumps({k: run[k] for k in ("recipe", "steps", "s_per_step", "step_phases_s_per_step", "diagnostics")}),
              flush=True)
        args.out.write_text(json.dumps(doc, indent=1))
    doc["finished"] = time.ctime()
    args.out.write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()

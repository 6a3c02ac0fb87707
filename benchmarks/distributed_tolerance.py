"""Where the tolerance of the two-process CI test comes from (tests/test_distributed.py, TOLERANCE).

The test trains quickstart (600 users x 400 items, MF-16, 6 epochs, global batch 256) once in one
process and once with ``torchrun --nproc_per_node=2`` and compares test Recall@20 / NDCG@20. The
two runs share the initialisation and the global batches of the first epoch but not their
negatives (each process has its own sampling stream), so they may differ by what a change of
random stream does to this pipeline. This script measures that: both kinds of run for seeds
0..N-1, the seed-to-seed spread of each kind, and the per-seed difference between them.

    python benchmarks/distributed_tolerance.py --seeds 8
    # -> benchmarks/results/distributed_tolerance.json and .md
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the same pipeline as tests/test_distributed.py::write_pipeline
OVERRIDES = ["data.source.n_users=600", "data.source.n_items=400", "model.embedding_dim=16", "train.epochs=6",
             "train.batch_size=256", "train.lr=0.01", "train.threads=1", "train.early_stopping=null",
             "eval.ks=[20]", "tracking.enabled=false", "train.progress=false"]
METRICS = ("recall@20", "ndcg@20")


def run(seed: int, processes: int, out: Path) -> dict:
    sets = [a for o in [*OVERRIDES, f"train.seed={seed}", f"output_dir={out}"] for a in ("--set", o)]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([*launcher, "-m", "recsys_neg", "train", str(ROOT / "pipelines" / "quickstart.yaml"), *sets],
                   check=True, capture_output=True, env=env)
    return json.loads(next(out.glob("*/metrics.json")).read_text())["test"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "distributed_tolerance")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            one = run(seed, 1, Path(tmp) / f"one-{seed}")
            two = run(seed, 2, Path(tmp) / f"two-{seed}")
            rows.append({"seed": seed, **{f"one_{m}": one[m] for m in METRICS}, **{f"two_{m}": two[m] for m in METRICS}})
            print(rows[-1], flush=True)
    summary = {}
    for m in METRICS:
        one = [r[f"one_{m}"] for r in rows]
        two = [r[f"two_{m}"] for r in rows]
        diff = [abs(a - b) for a, b in zip(one, two)]
        summary[m] = {"one_mean": statistics.mean(one), "one_std": statistics.stdev(one),
                      "one_range": max(one) - min(one), "two_mean": statistics.mean(two),
                      "two_std": statistics.stdev(two), "max_abs_diff_same_seed": max(diff),
                      "mean_abs_diff_same_seed": statistics.mean(diff)}
    result = {"command": f"python benchmarks/distributed_tolerance.py --seeds {args.seeds}",
              "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
              "when": time.strftime("%Y-%m-%d %H:%M"), "pipeline": "pipelines/quickstart.yaml", "overrides": OVERRIDES,
              "runs": rows, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = [f"# Two processes vs one: the spread the CI tolerance allows for", "",
             f"`{result['command']}` ({result['when']}; `uptime`: {result['uptime']})", "",
             "| metric | 1 process: mean ± std (range) over seeds | 2 processes: mean ± std | "
             "same seed, abs. difference: mean / max |", "|---|---|---|---|"]
    for m, s in summary.items():
        lines.append(f"| {m} | {s['one_mean']:.4f} ± {s['one_std']:.4f} ({s['one_range']:.4f}) | "
                     f"{s['two_mean']:.4f} ± {s['two_std']:.4f} | {s['mean_abs_diff_same_seed']:.4f} / "
                     f"{s['max_abs_diff_same_seed']:.4f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

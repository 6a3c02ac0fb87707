"""Two data-parallel processes against one on this 2-core CPU: positives per second, honestly.

Gowalla (train+valid -> test, the papers' protocol), global batch 2048, uniform negatives with
exact exclusion, BPR, the same global batch in every configuration:

- MF (64 dims, sparse rows, row-sparse Adam): 1 process x 1 thread, 1 process x 2 threads, and
  2 processes x 1 thread (``torchrun --standalone --nproc_per_node=2``) with sparse gradients
  summed by all-gathering the touched rows (``train.sparse_grads=gather``) and by all-reducing the
  whole table (``dense``); ``--mf-epochs`` epochs, the first left out of the rates (warm-up);
- LightGCN (3 layers, 64 dims): 1 process x 1 thread against 2 processes x 1 thread, each for
  ``--lightgcn-s`` seconds of training (``train.time_budget_s``).

Per run: positives/s, seconds per epoch and per phase, and ``time_allreduce`` (seconds inside the
gradient sum, waiting for the slower process included), from the run's metrics.json; test
Recall@20 after the MF epochs (full ranking; sharded over the processes in the 2-process runs).
Writes ``<out>.json`` and ``<out>.md``; ``uptime`` before every run.

    python benchmarks/bench_distributed.py --data ../shared/datasets/gowalla
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


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(pipeline: str, processes: int, threads: int, sets: list[str], data: Path, tmp: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=tmp))
    overrides = [f"data.source.path={data}", f"train.threads={threads}", "tracking.enabled=false",
                 "train.progress=false", f"output_dir={out}", "eval.ks=[20]", "eval.metrics=[recall,ndcg]", *sets]
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": str(threads)}
    cmd = [*launcher, "-m", "recsys_neg", "train", str(ROOT / "pipelines" / pipeline),
           *[a for o in overrides for a in ("--set", o)]]
    load = uptime()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    metrics = json.loads(next(out.glob("*/metrics.json")).read_text())
    return {"uptime": load, "wall_s": wall, "command": " ".join(cmd[cmd.index("recsys_neg") - 1:]),
            "history": metrics["history"], "test": metrics.get("test", {}), "world_size": metrics.get("world_size")}


def rates(res: dict, skip_first: bool) -> dict:
    hist = res["history"][1:] if skip_first and len(res["history"]) > 1 else res["history"]
    seen = sum(h["positives_per_s"] * h["epoch_seconds"] for h in hist)
    seconds = sum(h["epoch_seconds"] for h in hist)
    phases = sorted({k for h in hist for k in h if k.startswith("time_")})
    return {"positives_per_s": seen / seconds, "epoch_seconds": statistics.mean(h["epoch_seconds"] for h in hist),
            "seconds": seconds, **{p: sum(h.get(p, 0.0) for h in hist) / seconds for p in phases}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "gowalla")
    ap.add_argument("--mf-epochs", type=int, default=3)
    ap.add_argument("--lightgcn-s", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "distributed")
    args = ap.parse_args()
    data = args.data.resolve()
    mf = [f"train.epochs={args.mf_epochs}"]
    lgcn = ["train.epochs=1", f"train.time_budget_s={args.lightgcn_s}", "eval.test=false"]
    configs = [  # name, pipeline, processes, threads, extra settings
        ("MF, 1 process x 1 thread", "gowalla_mf_bpr.yaml", 1, 1, mf),
        ("MF, 1 process x 2 threads", "gowalla_mf_bpr.yaml", 1, 2, mf),
        ("MF, 2 processes x 1 thread, sparse rows all-gathered", "gowalla_mf_bpr.yaml", 2, 1,
         [*mf, "train.sparse_grads=gather"]),
        ("MF, 2 processes x 1 thread, dense table all-reduced", "gowalla_mf_bpr.yaml", 2, 1,
         [*mf, "train.sparse_grads=dense"]),
        ("LightGCN, 1 process x 1 thread", "gowalla_lightgcn.yaml", 1, 1, lgcn),
        ("LightGCN, 2 processes x 1 thread", "gowalla_lightgcn.yaml", 2, 1, lgcn),
    ]
    results = {"command": "python benchmarks/bench_distributed.py " + " ".join(sys.argv[1:]),
               "when": time.strftime("%Y-%m-%d %H:%M"), "uptime_start": uptime(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, pipeline, procs, threads, sets in configs:
            print(f"[{time.strftime('%H:%M:%S')}] {name} ({uptime()})", flush=True)
            res = run(pipeline, procs, threads, sets, data, Path(tmp))
            res["rates"] = rates(res, skip_first=pipeline == "gowalla_mf_bpr.yaml")
            results["runs"][name] = res
            print(f"    {res['rates']['positives_per_s']:,.0f} positives/s  {json.dumps(res['test'])}", flush=True)
    results["uptime_end"] = uptime()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    write_markdown(results, args.out.with_suffix(".md"))


def write_markdown(results: dict, path: Path) -> None:
    runs = results["runs"]
    base = {"MF": runs["MF, 1 process x 1 thread"]["rates"]["positives_per_s"],
            "LightGCN": runs["LightGCN, 1 process x 1 thread"]["rates"]["positives_per_s"]}
    lines = ["# Two processes against one on a 2-core CPU (Gowalla, global batch 2048)", "",
             f"`{results['command']}` ({results['when']})", "",
             f"`uptime` at the start: {results['uptime_start']}; at the end: {results['uptime_end']} "
             "(every run's own in the JSON).", "",
             "| run | positives/s | vs 1 process x 1 thread | s per epoch | share of training time in the "
             "gradient sum | sampling / forward / backward / optimizer share | test Recall@20 |",
             "|---|---|---|---|---|---|---|"]
    for name, res in runs.items():
        r = res["rates"]
        family = name.split(",")[0]
        phases = " / ".join(f"{100 * r.get(f'time_{p}', 0.0):.0f}%" for p in ("sampling", "forward", "backward",
                                                                               "optimizer"))
        recall = res["test"].get("recall@20")
        lines.append(f"| {name} | {r['positives_per_s']:,.0f} | {r['positives_per_s'] / base[family]:.2f}x | "
                     f"{r['epoch_seconds']:.1f} | {100 * r.get('time_allreduce', 0.0):.0f}% | {phases} | "
                     f"{'–' if recall is None else f'{recall:.4f}'} |")
    lines += ["", "Positives/s count the global batch (both processes' shares) per second of training; "
              "MF rates leave out the first epoch. The optimizer phase of a 2-process run includes the "
              "gradient sum; LightGCN ran for its time budget (part of one epoch).", ""]
    path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

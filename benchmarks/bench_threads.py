"""CPU threads on a shared machine: the default against 1 and 2 threads, idle and under load.

Each measurement is a fresh process (OpenMP reads its settings when torch loads).
Workloads: the quickstart command end to end and its training seconds; Gowalla
MF-BPR and LightGCN training steps; Gowalla full-ranking evaluation of every
user. Settings:

- ``1 thread``            train.threads=1
- ``2 threads, spin``     2 threads with OpenMP's own spin-wait (GOMP_SPINCOUNT=300000,
                          libgomp's default: how recsys_neg ran before)
- ``2 threads, passive``  OMP_WAIT_POLICY=PASSIVE
- ``2 threads, short spin`` 2 threads with the short spin recsys_neg now sets
- ``default``             no setting at all: the thread count recsys_neg picks, short spin

"Busy" starts two other processes that each run 2-thread torch matrix products with
OpenMP's default spinning: other trainings sharing the machine. Every figure is the
median of ``--repeats`` runs, with the 1-minute load average read before each run.

    python benchmarks/bench_threads.py --gowalla ../shared/datasets/gowalla --out benchmarks/results
    python benchmarks/bench_threads.py --render benchmarks/results/threads.json
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "1 thread": ({"GOMP_SPINCOUNT": "10000"}, 1),
    "2 threads, spin": ({"GOMP_SPINCOUNT": "300000"}, 2),
    "2 threads, passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    "2 threads, short spin": ({"GOMP_SPINCOUNT": "10000"}, 2),
    "default": ({}, None),
}

STEP_WORKER = textwrap.dedent("""
    import json, sys, time, torch
    a = json.loads(sys.argv[1])
    from recsys_neg.runs.runtime import configure_threads
    n = configure_threads(a["threads"])
    from recsys_neg.data import load_gowalla
    from recsys_neg.evaluation import Evaluator
    from recsys_neg.models import build_model
    data = load_gowalla(a["gowalla"], merge_valid=True)
    model = build_model({"name": a["model"], "embedding_dim": 64}, data)
    if a["what"] == "eval":
        ev = Evaluator(data, ks=[20], batch_size=2048)
        ev.evaluate(model, "test", users=range(2048))  # warm-up
        t = time.perf_counter(); ev.evaluate(model, "test"); value = time.perf_counter() - t
    else:
        from recsys_neg.losses import build_loss
        from recsys_neg.positives import build_positive_selector
        from recsys_neg.samplers import build_sampler
        from recsys_neg.step import Step
        from recsys_neg.training import StepParts, train_step
        from recsys_neg.training.optim import build_optimizer
        parts = StepParts(model, build_sampler({"name": "uniform"}, data), build_positive_selector({"name": "all"}, data),
                          build_loss({"name": "bpr"}, data), build_optimizer(model, "adam", 1e-3), 1e-4)
        u, i = data.train_pairs
        g = torch.Generator().manual_seed(0)
        perm = torch.randperm(len(u), generator=g)
        for s in range(a["steps"] + 2):
            if s == 2:
                t = time.perf_counter()
            idx = perm[s * 2048:(s + 1) * 2048]
            train_step(parts, u[idx], i[idx], Step(1, s, g))
        value = (time.perf_counter() - t) / a["steps"]
    print("RESULT " + json.dumps({"value": value, "threads": n}))
""")

LOAD_WORKER = textwrap.dedent("""
    import torch
    torch.set_num_threads(2)
    a = torch.randn(256, 256)
    while True:
        a = (a @ a).tanh()
""")


def load1() -> float:
    return os.getloadavg()[0]


def run(cmd: list[str], env: dict, timeout: float) -> tuple[str, float]:
    t = time.perf_counter()
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout,
                         cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return out.stdout, time.perf_counter() - t


def measure_quickstart(env: dict, threads: int | None, out_dir: str, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "recsys_neg", "train", "pipelines/quickstart.yaml", "--set", "train.epochs=10",
           "--set", "train.early_stopping=null", "--set", "tracking.enabled=false",
           "--set", f"output_dir={out_dir}", "--set", "train.progress=false"]
    if threads:
        cmd += ["--set", f"train.threads={threads}"]
    stdout, wall = run(cmd, env, timeout)
    metrics = json.loads(Path(stdout.strip().splitlines()[-1]).read_text())
    return {"train_s": metrics["train_seconds"], "command_s": wall, "threads_used": metrics.get("threads")}


def measure_worker(what: str, model: str, steps: int, gowalla: str, env: dict, threads: int | None,
                   timeout: float) -> dict:
    args = json.dumps({"what": what, "model": model, "steps": steps, "gowalla": gowalla, "threads": threads})
    stdout, _ = run([sys.executable, "-c", STEP_WORKER, args], env, timeout)
    res = json.loads([x for x in stdout.splitlines() if x.startswith("RESULT ")][-1][7:])
    key = "eval_s" if what == "eval" else "step_ms"
    return {key: res["value"] * (1 if what == "eval" else 1000), "threads_used": res["threads"]}


def start_load(n: int) -> list[subprocess.Popen]:
    env = {**os.environ, "GOMP_SPINCOUNT": "300000"}
    env.pop("OMP_WAIT_POLICY", None)
    return [subprocess.Popen([sys.executable, "-c", LOAD_WORKER], env=env) for _ in range(n)]


def workloads(args) -> list[tuple[str, callable]]:
    tmp = tempfile.mkdtemp(prefix="bench-threads-")
    out = [("quickstart", lambda env, th: measure_quickstart(env, th, tmp, args.timeout))]
    if args.gowalla and Path(args.gowalla, "train.txt").exists():
        out += [("mf_step", lambda env, th: measure_worker("step", "mf", 40, args.gowalla, env, th, args.timeout)),
                ("lightgcn_step", lambda env, th: measure_worker("step", "lightgcn", 4, args.gowalla, env, th,
                                                                 args.timeout)),
                ("eval", lambda env, th: measure_worker("eval", "mf", 0, args.gowalla, env, th, args.timeout))]
    return out


UNITS = {"quickstart": ("command_s", "s (whole command)"), "mf_step": ("step_ms", "ms / step"),
         "lightgcn_step": ("step_ms", "ms / step"), "eval": ("eval_s", "s (all users)")}


def render(path: Path) -> None:
    """Markdown from the JSON: per workload, each setting idle and busy, and its ratio to 1 thread."""
    doc = json.loads(path.read_text())
    rows = doc["rows"]
    loads = {c: [r["load1"] for row in rows if row["condition"] == c for r in row["runs"]] for c in ("idle", "busy")}
    seen = ", ".join(f"{c} {min(v):.1f}-{max(v):.1f}" for c, v in loads.items() if v)
    lines = [f"Median of {doc['meta']['repeats']} fresh processes each; busy = {doc['meta']['busy_processes']} other "
             "processes running 2-thread torch matrix products with OpenMP's default spinning. "
             f"Command: `{doc['meta'].get('command', 'python benchmarks/bench_threads.py')}`. "
             f"1-minute load average before the measurements: {seen}. "
             f"`uptime` at the end: {doc['meta'].get('uptime_end', '(not finished)').strip()}", ""]
    for workload, (key, unit) in UNITS.items():
        mine = [r for r in rows if r["workload"] == workload]
        if not mine:
            continue
        lines += [f"**{workload}** ({unit}; in brackets: time relative to 1 thread in the same condition)", "",
                  "| setting | no load added | busy | threads chosen (default) |", "|---|---|---|---|"]
        base = {c: next((r.get(key) for r in mine if r["condition"] == c and r["setting"] == "1 thread"), None)
                for c in ("idle", "busy")}
        for setting in SETTINGS:
            cells = []
            for c in ("idle", "busy"):
                r = next((r for r in mine if r["condition"] == c and r["setting"] == setting), None)
                if r is None or key not in r:
                    cells.append("timeout" if r else "—")
                    continue
                rel = f" ({r[key] / base[c]:.2f}×)" if base[c] else ""
                cells.append(f"{r[key]:.2f}{rel}")
            chosen = {c: r.get("threads_used") for r in mine for c in ("idle", "busy")
                      if r["condition"] == c and r["setting"] == setting} if setting == "default" else {}
            lines.append(f"| {setting} | {cells[0]} | {cells[1]} | "
                         f"{', '.join(f'{c}: {v}' for c, v in chosen.items() if v) or ''} |")
        lines.append("")
    path.with_suffix(".md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gowalla", default="../shared/datasets/gowalla")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--busy-processes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--render", type=Path, help="only regenerate the markdown from this JSON")
    ap.add_argument("--workloads", nargs="*", default=[], choices=list(UNITS), help="a subset (default: all)")
    ap.add_argument("--conditions", nargs="+", default=["idle", "busy"], choices=["idle", "busy"])
    args = ap.parse_args()
    if args.render:
        render(args.render)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below stops the load processes
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"cpus": os.cpu_count(), "repeats": args.repeats, "busy_processes": args.busy_processes,
            "command": " ".join(["python", *sys.argv])}

    def save() -> None:  # after every row: an interrupted run keeps what it measured
        (args.out / "threads.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))

    for condition in args.conditions:
        load = start_load(args.busy_processes) if condition == "busy" else []
        time.sleep(5 if load else 0)
        try:
            for name, fn in workloads(args):
                if args.workloads and name not in args.workloads:
                    continue
                for setting, (env, threads) in SETTINGS.items():
                    runs = []
                    for _ in range(args.repeats):
                        before = load1()
                        try:
                            runs.append({**fn(env, threads), "load1": before})
                        except subprocess.TimeoutExpired:
                            runs.append({"timeout_s": args.timeout, "load1": before})
                    row = {"condition": condition, "workload": name, "setting": setting, "runs": runs}
                    for key in ("train_s", "command_s", "step_ms", "eval_s"):
                        vals = [r[key] for r in runs if key in r]
                        if vals:
                            row[key] = statistics.median(vals)
                    row["threads_used"] = sorted({r.get("threads_used") for r in runs} - {None})
                    rows.append(row)
                    save()
                    print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
        finally:
            for p in load:
                p.kill()
    meta["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout
    save()
    render(args.out / "threads.json")
    print(f"wrote {args.out / 'threads.json'} and threads.md")


if __name__ == "__main__":
    main()

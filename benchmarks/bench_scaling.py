"""How the cost of each part grows with the data: 10^5, 10^6 and 10^7 synthetic interactions.

Sizes (``data/sources/synthetic.py``, 25 interactions per user on average, split 0.7/0.1/0.2):

    1e5: 4,000 users x 4,000 items        1e6: 40,000 users x 40,000 items (Gowalla-sized)
    1e7: 400,000 users x 1,000,000 items  (a catalogue of a million items; generated with the
                                           candidate path: exact sampling would score 4e11 cells)

Per size, each in its own process, one at a time, one thread (torch, OpenMP and BLAS), with
``uptime`` recorded before each:

- ``generate``: synthetic generation and building the interactions (CSR splits), cached on disk;
- ``sampler``: uniform negatives with exact exclusion of training positives at batch 2048 (1 and
  100 negatives per positive), for the structure ``auto`` picks (default 1.5 GB budget) and every
  other structure whose table fits ``--structure-cap-gb``; bare ``torch.randint`` beside it;
- ``mf``: MF-BPR (64 dims, sparse rows, row-sparse Adam, uniform exact negatives) at batch 2048 with
  the trainer's own ``train_step``: a full epoch where it takes under ``--full-epoch-s``, else the
  mean of ``--steps`` steps times the steps of an epoch (marked extrapolated);
- ``lightgcn``: the same for LightGCN (3 layers, 64 dims), from ``--lightgcn-steps`` steps;
- ``eval``: full-ranking evaluation (MF scores, mask, top-50, six metrics at 10/20/50) of every
  test user, or, where that would take over ``--full-epoch-s``, of a random sample of
  ``--eval-users`` users extrapolated to all (marked).

Each process reports its peak resident memory (``ru_maxrss``: the data it loaded included) and,
where it applies, the bytes of the tables it built. Outputs: ``<out>.json`` and, from it,
``<out>.md`` (table) and ``<out>.png`` (log-log curves)::

    python benchmarks/bench_scaling.py                       # measure all sizes, then report
    python benchmarks/bench_scaling.py --sizes 1e5,1e6       # a subset
    python benchmarks/bench_scaling.py --report              # table and plot from the JSON only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {  # interactions: (users, items)
    "1e5": (4_000, 4_000),
    "1e6": (40_000, 40_000),
    "1e7": (400_000, 1_350_000),  # ~1.0M items get an interaction: the catalogue
}
MEAN_INTERACTIONS = 25
BATCH = 2048
DIM = 64
KINDS = ("generate", "sampler", "mf", "lightgcn", "eval")
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


# ---- measurements (each runs in a child process) -----------------------------------------------
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _source(size: str):
    from recsys_neg.data.sources.synthetic import SyntheticSource

    users, items = SIZES[size]
    return SyntheticSource(n_users=users, n_items=items, mean_interactions=MEAN_INTERACTIONS, seed=0)


def measure_generate(size: str, cache: Path, args) -> dict:
    import scipy.sparse as sp

    from recsys_neg.data import DataConfig, build_interactions
    from recsys_neg.data.sources.synthetic import EXACT_MAX_CELLS, generate_synthetic

    src = _source(size)
    t0 = time.perf_counter()
    df = generate_synthetic(src)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = build_interactions(DataConfig(source={"source": "synthetic", **src.model_dump()}), df=df)
    t_build = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("train", "valid", "test"):
        sp.save_npz(cache / f"{size}_{name}.npz", data.split(name), compressed=False)
    return {"generate_s": t_gen, "build_s": t_build, "interactions": int(len(df)),
            "path": "exact" if src.n_users * src.n_items <= EXACT_MAX_CELLS else "candidates",
            "users": data.n_users, "items": data.n_items, "train": data.n_train}


def load(size: str, cache: Path):
    import numpy as np
    import scipy.sparse as sp

    from recsys_neg.data.interactions import Interactions

    m = {name: sp.load_npz(cache / f"{size}_{name}.npz").tocsr() for name in ("train", "valid", "test")}
    n_users, n_items = m["train"].shape
    return Interactions(m["train"], m["valid"], m["test"], np.arange(n_users), np.arange(n_items), f"synthetic-{size}")


def _timed_calls(fn, min_s: float = 1.0, min_calls: int = 5) -> float:
    """Median seconds of one call over at least ``min_calls`` calls and ``min_s`` seconds (after one warm-up)."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def measure_sampler(size: str, cache: Path, args) -> dict:
    import torch

    from recsys_neg.samplers.exclusion import DEFAULT_BUDGET_BYTES, build_positive_set
    from recsys_neg.samplers.uniform import UniformParams, UniformSampler
    from recsys_neg.step import Step

    data = load(size, cache)
    rss_data = _peak_mb()
    n_users, n_items = data.train.shape
    sizes = {"dense": n_users * n_items, "bitset": n_users * ((n_items + 7) // 8), "sorted": 8 * data.n_train}
    auto = build_positive_set(data.train, "cpu", "auto", DEFAULT_BUDGET_BYTES).kind
    users_all, items_all = data.train_pairs
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(len(users_all), (BATCH,), generator=g)
    users, pos = users_all[idx], items_all[idx]
    out = {"auto": auto, "table_bytes": sizes, "data_rss_mb": rss_data, "structures": {}}
    cap = args.structure_cap_gb * 1e9
    for kind in [auto] + [k for k in ("dense", "bitset", "sorted") if k != auto and sizes[k] <= cap]:
        t0 = time.perf_counter()
        sampler = UniformSampler(data, UniformParams(structure=kind, memory_budget_mb=10**7), "cpu")
        built = time.perf_counter() - t0
        row = {"build_s": built, "bytes": sampler.exclusion.positives.nbytes}
        for k in (1, 100):
            step = Step(1, 1, torch.Generator().manual_seed(1))
            sec = _timed_calls(lambda: sampler.sample(users, pos, k, step))
            row[f"negatives_per_s_k{k}"] = BATCH * k / sec
        out["structures"][kind] = row
    for k in (1, 100):
        sec = _timed_calls(lambda: torch.randint(n_items, (BATCH, k), generator=g))
        out[f"randint_per_s_k{k}"] = BATCH * k / sec
    return out


def _train_steps(model_name: str, size: str, cache: Path, steps: int, full_epoch_s: float) -> dict:
    import torch

    from recsys_neg.losses import LOSSES
    from recsys_neg.models import build_model
    from recsys_neg.positives import POSITIVES
    from recsys_neg.samplers.uniform import UniformParams, UniformSampler
    from recsys_neg.step import Step
    from recsys_neg.training.optim import build_optimizer
    from recsys_neg.training.step import PhaseTimer, StepParts, train_step

    data = load(size, cache)
    rss_data = _peak_mb()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = build_model({"name": model_name, "embedding_dim": DIM}, data)
    t_model = time.perf_counter() - t0
    sampler = UniformSampler(data, UniformParams(), "cpu")
    selector = POSITIVES.build(POSITIVES.parse({"name": "all"}), data=data, device="cpu")
    loss = LOSSES.build(LOSSES.parse({"name": "bpr"}), data=data)
    parts = StepParts(model, sampler, selector, loss, build_optimizer(model, "adam", 1e-3, extra=[loss]), 1e-4)
    users_all, items_all = data.train_pairs
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(users_all), generator=gen)
    steps_per_epoch = -(-len(users_all) // BATCH)
    timer = PhaseTimer()
    done, t_start, full = 0, None, False
    for i, lo in enumerate(range(0, len(users_all), BATCH)):
        if i == 1:  # the first step warms up (allocations, lazy tables)
            t_start, timer.totals = time.perf_counter(), {}
        idx = perm[lo: lo + BATCH]
        train_step(parts, users_all[idx], items_all[idx], Step(1, i + 1, gen), timer)
        done = i
        elapsed = time.perf_counter() - t_start if t_start else 0.0
        if i + 1 == steps_per_epoch:
            full = True
            break
        if i >= steps and elapsed > 0 and elapsed / i * steps_per_epoch > full_epoch_s:
            break
    step_s = (time.perf_counter() - t_start) / done
    return {"step_s": step_s, "steps_timed": done, "steps_per_epoch": steps_per_epoch,
            "epoch_s": step_s * steps_per_epoch, "extrapolated": not full, "model_build_s": t_model,
            "phases_per_step": {k: v / done for k, v in timer.totals.items()},
            "param_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
            "exclusion": sampler.exclusion.positives.kind, "data_rss_mb": rss_data}


def measure_mf(size: str, cache: Path, args) -> dict:
    return _train_steps("mf", size, cache, args.steps, args.full_epoch_s)


def measure_lightgcn(size: str, cache: Path, args) -> dict:
    return _train_steps("lightgcn", size, cache, args.lightgcn_steps, args.full_epoch_s)


def measure_eval(size: str, cache: Path, args) -> dict:
    import numpy as np
    import torch

    from recsys_neg.evaluation import Evaluator
    from recsys_neg.models import build_model

    data = load(size, cache)
    rss_data = _peak_mb()
    torch.manual_seed(0)
    model = build_model({"name": "mf", "embedding_dim": DIM}, data)
    n_items = data.n_items
    batch = int(min(4096, max(64, 2**28 // n_items)))  # a score block of at most 1 GB
    ev = Evaluator(data, ks=(10, 20, 50), batch_size=batch)
    with_test = np.flatnonzero(np.diff(data.test.indptr) > 0)
    ev.evaluate(model, "test", users=with_test[:batch])  # warm-up: one batch
    sample = with_test
    if args.eval_users and len(with_test) > args.eval_users:
        sample = np.sort(np.random.default_rng(0).choice(with_test, args.eval_users, replace=False))
    t0 = time.perf_counter()
    ev.evaluate(model, "test", users=sample)
    sec = time.perf_counter() - t0
    if len(sample) < len(with_test) and sec * len(with_test) / len(sample) < args.full_epoch_s:
        sample = with_test  # short enough: every user, nothing extrapolated
        t0 = time.perf_counter()
        ev.evaluate(model, "test", users=sample)
        sec = time.perf_counter() - t0
    return {"eval_users": int(len(sample)), "test_users": int(len(with_test)), "batch_size": batch,
            "seconds_measured": sec, "seconds_all_users": sec * len(with_test) / len(sample),
            "extrapolated": len(sample) < len(with_test), "data_rss_mb": rss_data}


# ---- driver ----------------------------------------------------------------------------------------
def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_child(kind: str, size: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--size", size, "--cache", str(args.cache),
           "--steps", str(args.steps), "--lightgcn-steps", str(args.lightgcn_steps),
           "--full-epoch-s", str(args.full_epoch_s), "--eval-users", str(args.eval_users),
           "--structure-cap-gb", str(args.structure_cap_gb)]
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    load_before = uptime()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail), "uptime": load_before, "wall_s": wall}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "uptime": load_before, "wall_s": wall}


def child(args) -> None:
    import torch

    torch.set_num_threads(1)
    fn = {"generate": measure_generate, "sampler": measure_sampler, "mf": measure_mf,
          "lightgcn": measure_lightgcn, "eval": measure_eval}[args.child]
    out = fn(args.size, args.cache, args)
    out["peak_rss_mb"] = _peak_mb()
    print(json.dumps(out))


def measure(args) -> dict:
    path = args.out.with_suffix(".json")
    result = json.loads(path.read_text()) if path.exists() and not args.fresh else {}
    result.setdefault("sizes", {})
    result.update({
        "command": "python benchmarks/bench_scaling.py " + " ".join(sys.argv[1:]),
        "machine": {"cpu": _cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": __import__("torch").__version__,
                    "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)},
        "settings": {"batch": BATCH, "dim": DIM, "mean_interactions": MEAN_INTERACTIONS, "threads": 1,
                     "steps": args.steps, "lightgcn_steps": args.lightgcn_steps, "full_epoch_s": args.full_epoch_s,
                     "eval_users": args.eval_users, "structure_cap_gb": args.structure_cap_gb}})
    for size in args.sizes:
        users, items = SIZES[size]
        entry = result["sizes"].setdefault(size, {})
        entry.update({"users": users, "items": items})
        for kind in args.kinds:
            if kind != "generate" and not (args.cache / f"{size}_train.npz").exists():
                entry[kind] = {"error": "no cached data (the generate step failed or was skipped)"}
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {size} {kind} ...", flush=True)
            entry[kind] = run_child(kind, size, args)
            print(f"    {json.dumps(entry[kind])[:400]}", flush=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2))  # keep what is measured if a later size breaks
    return result


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ---- report ----------------------------------------------------------------------------------------
def _fmt_s(x: float | None, extrapolated: bool = False) -> str:
    if x is None:
        return "–"
    text = f"{x:.3g} s" if x < 600 else f"{x / 60:.3g} min" if x < 7200 else f"{x / 3600:.3g} h"
    return text + (" (extrap.)" if extrapolated else "")


def _gb(mb: float | None) -> str:
    return "–" if mb is None else f"{mb / 1024:.2f} GB"


def report(result: dict, out: Path) -> None:
    rows = ["| | " + " | ".join(f"{s} interactions" for s in result["sizes"]) + " |",
            "|---|" + "---|" * len(result["sizes"])]

    def line(label, fn):
        cells = []
        for s, e in result["sizes"].items():
            try:
                cells.append(fn(e))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("error: " + next((e[k]["error"] for k in KINDS if "error" in e.get(k, {})), "–")[:60]
                             if any("error" in e.get(k, {}) for k in KINDS) else "–")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    line("users × items (items with an interaction; generator's catalogue)",
         lambda e: f"{e['generate']['users']:,} × {e['generate']['items']:,} ({e['items']:,})")
    line("train interactions", lambda e: f"{e['generate']['train']:,}")
    line("generation (+ building the splits)",
         lambda e: f"{_fmt_s(e['generate']['generate_s'])} + {_fmt_s(e['generate']['build_s'])} "
                   f"({e['generate']['path']})")
    line("exclusion structure chosen (`auto`), its size",
         lambda e: f"{e['sampler']['auto']}, {e['sampler']['structures'][e['sampler']['auto']]['bytes'] / 1e6:,.0f} MB")
    line("dense / bitset / sorted table size",
         lambda e: " / ".join(f"{e['sampler']['table_bytes'][k] / 1e9:,.3g} GB" for k in ("dense", "bitset", "sorted")))
    for k in (1, 100):
        line(f"exact-exclusion negatives/s, {k} per positive (auto)",
             lambda e, k=k: f"{e['sampler']['structures'][e['sampler']['auto']][f'negatives_per_s_k{k}'] / 1e6:.3g} M/s "
                            f"(randint {e['sampler'][f'randint_per_s_k{k}'] / 1e6:.3g} M/s)")
    line("other structures, negatives/s at 100 per positive",
         lambda e: ", ".join(f"{kind} {row['negatives_per_s_k100'] / 1e6:.3g} M/s"
                             for kind, row in e["sampler"]["structures"].items() if kind != e["sampler"]["auto"]) or "–")
    line("MF-BPR epoch (batch 2048)", lambda e: _fmt_s(e["mf"]["epoch_s"], e["mf"]["extrapolated"]))
    line("MF step", lambda e: f"{e['mf']['step_s'] * 1e3:.3g} ms × {e['mf']['steps_per_epoch']:,}")
    line("LightGCN epoch (batch 2048, 3 layers)",
         lambda e: _fmt_s(e["lightgcn"]["epoch_s"], e["lightgcn"]["extrapolated"]))
    line("LightGCN step", lambda e: f"{e['lightgcn']['step_s']:.3g} s × {e['lightgcn']['steps_per_epoch']:,}")
    line("full-ranking evaluation, all test users",
         lambda e: _fmt_s(e["eval"]["seconds_all_users"], e["eval"]["extrapolated"])
                   + (f" from {e['eval']['eval_users']:,} of {e['eval']['test_users']:,}" if e["eval"]["extrapolated"] else ""))
    for kind in ("generate", "sampler", "mf", "lightgcn", "eval"):
        line(f"peak memory: {kind}", lambda e, kind=kind: _gb(e[kind]["peak_rss_mb"]))
    line("load average (1 min) before MF", lambda e: e["mf"]["uptime"].split("load average:")[1].split(",")[0].strip())
    md = ["# Scaling: cost against data size (synthetic, one thread)", "",
          f"`{result['command']}`", "",
          f"Machine: {result['machine']['cpu']}, {result['machine']['cpus']} CPUs, "
          f"{result['machine']['memory_gb']} GB; torch {result['machine']['torch']}; one thread per measurement, "
          "one measurement process at a time. `uptime` before every measurement is in the JSON.", "",
          *rows, "",
          "(extrap.): measured on part of the work and scaled linearly (steps of an epoch, users of "
          "the test split). Peak memory is the measuring process's resident peak, the data it loaded "
          "included.", "", f"![scaling]({out.with_suffix('.png').name})", ""]
    out.with_suffix(".md").write_text("\n".join(md))
    plot(result, out.with_suffix(".png"))
    print("\n".join(md))


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s for s, e in result["sizes"].items() if "error" not in e.get("generate", {"error": 1})]
    x = {s: result["sizes"][s]["generate"]["interactions"] for s in sizes}
    series = {
        "MF-BPR epoch": lambda e: (e["mf"]["epoch_s"], e["mf"]["extrapolated"]),
        "LightGCN epoch": lambda e: (e["lightgcn"]["epoch_s"], e["lightgcn"]["extrapolated"]),
        "full-ranking eval": lambda e: (e["eval"]["seconds_all_users"], e["eval"]["extrapolated"]),
        "generation + build": lambda e: (e["generate"]["generate_s"] + e["generate"]["build_s"], False),
        "1M exact negatives (k=100)": lambda e: (
            1e6 / e["sampler"]["structures"][e["sampler"]["auto"]]["negatives_per_s_k100"], False),
    }
    fig, (ax, mem) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, fn in series.items():
        pts = []
        for s in sizes:
            try:
                pts.append((x[s], *fn(result["sizes"][s])))
            except (KeyError, TypeError):
                pass
        if not pts:
            continue
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", label=name)
        for px, py, extra in pts:
            ax.plot(px, py, "o", color=line.get_color(), fillstyle="none" if extra else "full")
    if len(sizes) > 1:  # guides: what linear and quadratic growth look like from the smallest size
        x0, x1 = min(x.values()), max(x.values())
        y0 = min(fn(result["sizes"][sizes[0]])[0] for fn in series.values())
        for power, style in ((1, ":"), (2, "--")):
            ax.plot([x0, x1], [y0, y0 * (x1 / x0) ** power], style, color="grey", lw=0.8,
                    label=f"∝ interactions{'²' if power == 2 else ''}")
    for kind in ("generate", "sampler", "mf", "lightgcn", "eval"):
        pts = [(x[s], result["sizes"][s][kind]["peak_rss_mb"] / 1024) for s in sizes
               if "peak_rss_mb" in result["sizes"][s].get(kind, {})]
        if pts:
            mem.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=kind)
    for a, title, unit in ((ax, "time (open markers: extrapolated)", "seconds"), (mem, "peak memory", "GB")):
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("interactions")
        a.set_ylabel(unit)
        a.set_title(title)
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=",".join(SIZES), type=lambda s: s.split(","))
    ap.add_argument("--kinds", default=",".join(KINDS), type=lambda s: s.split(","))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scaling")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "out" / "scaling")
    ap.add_argument("--steps", type=int, default=200, help="MF steps timed when an epoch is too long")
    ap.add_argument("--lightgcn-steps", type=int, default=5)
    ap.add_argument("--full-epoch-s", type=float, default=120.0, help="run whole epochs below this")
    ap.add_argument("--eval-users", type=int, default=4096, help="users evaluated (0: all), then extrapolated")
    ap.add_argument("--structure-cap-gb", type=float, default=4.0)
    ap.add_argument("--fresh", action="store_true", help="start a new JSON instead of updating it")
    ap.add_argument("--report", action="store_true", help="only write the table and plot from the JSON")
    ap.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    result = json.loads(args.out.with_suffix(".json").read_text()) if args.report else measure(args)
    report(result, args.out)


if __name__ == "__main__":
    main()

"""Time to quality: recipes under one training budget, chosen on validation, tested once.

For every recipe (a pipeline file) and seed, one training process at a time:

1. select: train -> valid for at most ``--budget`` seconds of training (validation
   time is excluded from the budget and reported), validating on a fixed schedule
   of training seconds (``--eval-every-s``): the learning curve;
2. final: train+valid -> test for the epoch count where validation Recall@20 peaked,
   capped at the same budget; the test split is read once, here.

The select budget is scaled by |train| / |train+valid| so that the final run, which
trains on 12.6% more data for the same number of epochs, fits the budget too.
``--references`` are recipes run the same way but drawn as marked points, the bar a
user already has: ``pipelines/gowalla_als.yaml`` is implicit's ALS (one sweep per
epoch, through the engine's own evaluator and masks). ``--recbole LightGCN SimpleX``
adds RecBole's models under the same protocol (``recbole_reference.py``, in RecBole's
own virtual environment given by ``--recbole-python``), drawn as dashed curves. Outputs, in ``--out``:
``<name>.json`` (every number), and generated from it ``<name>.md`` (table) and
``<name>.png`` (validation Recall@20 against training minutes).

    python benchmarks/time_to_quality.py --recipes pipelines/gowalla_best_cpu.yaml \\
        --references pipelines/gowalla_als.yaml --budget 1800 --seeds 2020 --name time_to_quality
    python benchmarks/time_to_quality.py --render benchmarks/results/time_to_quality.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = ("recall@20", "ndcg@20")


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def train(recipe: str | Path, overrides: list[str], log: Path, timeout: float | None = None) -> dict:
    """One ``recsys-neg train`` process; returns its metrics.json."""
    cmd = [sys.executable, "-m", "recsys_neg", "train", str(recipe)]
    for o in overrides:
        cmd += ["--set", o]
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.with_suffix(".out")  # written as the run goes: its per-epoch lines show progress
    with open(log, "w") as fh, open(out, "w") as fo:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=fo, stderr=fh, text=True, timeout=timeout)
    fh_text = out.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{recipe} failed ({proc.returncode}); see {log}")
    return json.loads(Path(fh_text.strip().splitlines()[-1]).read_text())


def curve(history: list[dict]) -> list[dict]:
    return [{"epoch": h["epoch"], "train_s": h["train_seconds"],
             **{k: h[f"valid_{k}"] for k in HEADLINE if f"valid_{k}" in h}}
            for h in history if "valid_recall@20" in h]


def run_recipe(recipe: str | Path, seed: int, budget: float, eval_every_s: float, data: str, out: Path,
               scale: float, extra: list[str] = (), max_epochs: int = 100000, stop_early: bool = False,
               clock: str = "wall") -> dict:
    """Select on valid within the budget, then test the chosen length on train+valid.

    Recipes run the whole budget (the curve is the point); ``stop_early`` ends a reference
    once validation has not improved for 3 evaluations."""
    name = Path(recipe).stem
    stopping = "train.early_stopping={metric: recall@20, patience: 3}" if stop_early else "train.early_stopping=null"
    common = [f"data.source.path={data}", f"train.seed={seed}", "train.threads=1", "tracking.enabled=false",
              f"output_dir={out / 'runs'}", f"train.budget_clock={clock}", *extra]
    t0, load_before = time.perf_counter(), load1()
    sel = train(recipe, [*common, stopping, "data.merge_valid=false", f"train.epochs={max_epochs}",
                         f"train.time_budget_s={budget * scale:.1f}", f"train.eval_every_s={eval_every_s}",
                         "eval.test=false"], out / "logs" / f"{name}-{seed}-select.log")
    points, epochs = curve(sel["history"]), sel["history"]
    base = {"recipe": str(recipe), "name": name, "seed": seed, "budget_s": budget, "clock": clock}
    if not points:  # not one epoch within the budget: nothing to choose, nothing to test
        return {**base, "select": {"curve": [], "best": None, "train_s": sel["train_seconds"],
                                   "eval_s": sel["eval_seconds"], "epochs": 0, "s_per_epoch": None},
                "final": None, "wall_s": time.perf_counter() - t0, "load1_before": load_before,
                "load1_after": load1()}
    best = max(points, key=lambda p: p["recall@20"])
    fin = train(recipe, [*common, "train.early_stopping=null", "data.merge_valid=true", f"train.epochs={best['epoch']}",
                         f"train.time_budget_s={budget:.1f}"], out / "logs" / f"{name}-{seed}-final.log")
    return {
        **base,
        "select": {"curve": points, "best": best, "train_s": sel["train_seconds"],
                   "eval_s": sel["eval_seconds"], "epochs": len(epochs),
                   "s_per_epoch": statistics.median(h["epoch_seconds"] for h in epochs)},
        "final": {"epochs": best["epoch"], "train_s": fin["train_seconds"], "stopped": fin["stopped"],
                  "test": {k: fin["test"][k] for k in fin["test"]}},
        "wall_s": time.perf_counter() - t0, "load1_before": load_before, "load1_after": load1(),
    }


def select_scale(data_dir: str) -> float:
    """|train| / |train+valid|: the select budget's share, so the final run fits the same budget."""
    from recsys_neg.data import load_gowalla

    sizes = load_gowalla(data_dir)
    return sizes.n_train / (sizes.n_train + sizes.valid.nnz)


class Results:
    """The benchmark's JSON document, saved after every run so an interruption keeps what was done."""

    def __init__(self, path: Path, meta: dict):
        self.path, self.loads = path, []
        self.doc = {"meta": {**meta, "command": " ".join(["python", *sys.argv]), "started": time.ctime()},
                    "runs": []}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():  # an interrupted invocation with the same settings: keep its finished runs
            old = json.loads(path.read_text())
            if all(old["meta"].get(k) == v for k, v in meta.items()):
                self.doc["runs"] = old["runs"]
                self.doc["meta"]["started"] = old["meta"].get("started", self.doc["meta"]["started"])
                self.loads = [x for r in old["runs"] for x in (r["load1_before"], r["load1_after"])]
                print(f"{path}: keeping {len(old['runs'])} finished runs", flush=True)

    def done(self, name: str, seed: int) -> bool:
        return any(r["name"] == name and r["seed"] == seed for r in self.doc["runs"])

    def add(self, run: dict) -> None:
        self.doc["runs"].append(run)
        self.loads += [run["load1_before"], run["load1_after"]]
        self.doc["meta"]["load_range"] = f"{min(self.loads):.1f}-{max(self.loads):.1f}"
        self.save()

    def save(self, finished: bool = False) -> None:
        if finished:
            self.doc["meta"]["finished"] = time.ctime()
        self.path.write_text(json.dumps(self.doc, indent=1))


def run_all(tasks: list, jobs: int, results: "Results", clock: str, show=lambda res: res) -> None:
    """Run ``tasks`` (callables returning a run's record), ``jobs`` training processes at a time.

    More than one at a time only under the CPU clock: each process then is charged its own CPU
    seconds at one thread, so a budget means the same work whatever runs beside it (memory
    bandwidth apart: per-epoch seconds rise a little, printed with the load). Records reach the
    JSON in the order runs finish, each as soon as it does."""
    if jobs > 1 and clock != "cpu":
        raise SystemExit("--jobs above 1 needs --clock cpu: side-by-side runs would share wall seconds")
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # threads only wait on training subprocesses
        for fut in as_completed([pool.submit(t) for t in tasks]):
            res = fut.result()
            results.add(res)
            print(json.dumps(show(res)), flush=True)


def side_by_side(doc: dict) -> str:
    jobs = doc["meta"].get("jobs", 1)
    return f", {jobs} runs side by side" if jobs > 1 else ""


def mean_std(vals: list[float]) -> str:
    """Mean ± sample std over seeds (the mean alone for one seed)."""
    return f"{statistics.mean(vals):.4f} ± {statistics.stdev(vals):.4f}" if len(vals) > 1 else f"{vals[0]:.4f}"


def mean_recall(rs: list[dict]) -> float:
    """Mean test Recall@20 of a recipe's finished runs: the order of every table."""
    return statistics.mean(r["final"]["test"]["recall@20"] for r in rs)


def render(path: Path) -> None:
    """The markdown table and the plot, generated from the JSON only."""
    doc = json.loads(path.read_text())
    by, refs = {}, set(doc["meta"].get("references", []))
    for r in doc["runs"]:
        by.setdefault(r["name"] + (" (reference)" if r["name"] in refs else ""), []).append(r)
    clock = "CPU" if doc["meta"].get("clock") == "cpu" else "wall-clock"
    lines = [f"Gowalla (train+valid -> test, full ranking), {doc['meta']['budget_s']:.0f} {clock} seconds of training "
             f"per run, one thread{side_by_side(doc)}; machine load {doc['meta']['load_range']}. Command: `{doc['meta']['command']}`", "",
             "| recipe | seeds | test Recall@20 | test NDCG@20 | epochs | s / epoch | training s (select / final) "
             "| best valid Recall@20 | validation s |", "|---|---|---|---|---|---|---|---|---|"]

    unfinished = {name: rs for name, rs in by.items() if any(r["final"] is None for r in rs)}
    by = {name: rs for name, rs in by.items() if name not in unfinished}
    for name, rs in sorted(by.items(), key=lambda kv: -mean_recall(kv[1])):
        lines.append("| " + " | ".join([
            name, str(len(rs)), mean_std([r["final"]["test"]["recall@20"] for r in rs]),
            mean_std([r["final"]["test"]["ndcg@20"] for r in rs]),
            "/".join(str(r["final"]["epochs"]) for r in rs),
            f"{statistics.median(r['select']['s_per_epoch'] for r in rs):.1f}",
            f"{statistics.mean(r['select']['train_s'] for r in rs):.0f} / {statistics.mean(r['final']['train_s'] for r in rs):.0f}",
            mean_std([r["select"]["best"]["recall@20"] for r in rs]),
            f"{statistics.mean(r['select']['eval_s'] for r in rs):.0f}"]) + " |")
    for name, rs in sorted(unfinished.items()):
        lines.append(f"| {name} | {len(rs)} | no epoch finished within the budget | — | 0 | "
                     f"> {statistics.mean(r['select']['train_s'] for r in rs):.0f} | — | — | — |")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, rs) in enumerate(sorted(by.items())):
        for j, r in enumerate(rs):
            if r["name"] in refs:  # the bar a user already has: where its best validation lands
                b = r["select"]["best"]
                ax.scatter([b["train_s"] / 60], [b["recall@20"]], marker="*", s=180, color="black", zorder=5,
                           label=f"{name}: {b['epoch']} epochs" if j == 0 else None)
                ax.axhline(b["recall@20"], color="black", lw=0.6, ls=":")
                continue
            pts = r["select"]["curve"]
            peer = r["name"].startswith("recbole")  # another library under the same protocol
            ax.plot([p["train_s"] / 60 for p in pts], [p["recall@20"] for p in pts], color=colors[i % len(colors)],
                    alpha=0.9 if j == 0 else 0.4, lw=1.6 if j == 0 else 1, ls="--" if peer else "-",
                    marker="o" if peer else None, ms=3, label=name if j == 0 else None)
    ax.set_xlabel("training minutes (one thread; validation excluded)")
    ax.set_ylabel("validation Recall@20 (train -> valid)")
    ax.set_title("Time to quality on Gowalla: which recipe for which budget", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", nargs="*", default=[])
    ap.add_argument("--references", nargs="*", default=[], help="recipes drawn as reference points (ALS)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[2020])
    ap.add_argument("--budget", type=float, default=1800.0, help="training seconds per final run")
    ap.add_argument("--eval-every-s", type=float, default=60.0)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="budget in wall seconds, or process CPU seconds (fair at one thread on a busy machine)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/gowalla"))
    ap.add_argument("--set", dest="extra", action="append", default=[], help="override for every recipe")
    ap.add_argument("--recbole", nargs="*", default=[], choices=["LightGCN", "SimpleX"])
    ap.add_argument("--recbole-python", default=str(ROOT.parent / "venv-recbole/bin/python"))
    ap.add_argument("--jobs", type=int, default=1, help="training processes side by side (needs --clock cpu; "
                                                          "at most one per core)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument("--name", default="time_to_quality")
    ap.add_argument("--render", type=Path, help="only regenerate the table and plot from this JSON")
    args = ap.parse_args()
    if args.render:
        render(args.render)
        return
    scale = select_scale(args.data)
    work = args.out / f"{args.name}-work"
    results = Results(args.out / f"{args.name}.json", {
        "budget_s": args.budget, "eval_every_s": args.eval_every_s, "seeds": args.seeds, "clock": args.clock,
        "select_scale": scale, "references": [Path(r).stem for r in args.references]})
    results.doc["meta"]["jobs"] = args.jobs  # not a setting that must match to keep finished runs
    # seed-major: an interrupted comparison has every recipe at its first seeds, not some at none
    tasks = [partial(run_recipe, recipe, seed, args.budget, args.eval_every_s, args.data, work, scale, args.extra,
                     stop_early=recipe in args.references, clock=args.clock)
             for seed in args.seeds for recipe in [*args.references, *args.recipes]
             if not ((recipe in args.references and seed != args.seeds[0]) or results.done(Path(recipe).stem, seed))]
    run_all(tasks, args.jobs, results, args.clock, lambda res: {k: res[k] for k in ("name", "seed", "final")})
    for model in args.recbole:
        from recbole_reference import recbole_reference

        for seed in args.seeds[:1]:
            if results.done(f"recbole_{model.lower()}", seed):
                continue
            res = recbole_reference(args.recbole_python, args.data, model, args.budget, seed, scale, work)
            results.add(res)
            print(json.dumps({k: res[k] for k in ("name", "seed", "final")}), flush=True)
    results.save(finished=True)
    render(results.path)
    print(f"wrote {results.path} and its .md and .png")


if __name__ == "__main__":
    main()

"""The negative-ratio curve on Gowalla: Recall@20 at equal training time for K negatives per positive.

For each loss (BPR, CCL, sampled softmax) and K in --ratios, a recipe is written
(MF, 64 dimensions, uniform negatives drawn per row, every setting pinned below
and in the JSON) and run through the time-to-quality protocol of
``time_to_quality.py``: select the epoch count on train -> valid within the budget,
then train+valid -> test once. The proposal is uniform, so sampled softmax needs no
log-q correction here. Writes ``<name>.json`` and, generated from it, ``<name>.md``
and ``<name>.png``.

    python benchmarks/negative_ratio_gowalla.py --budget 180 --clock cpu --name negative_ratio_gowalla
    python benchmarks/negative_ratio_gowalla.py --render benchmarks/results/negative_ratio_gowalla.json
"""
from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import yaml

from time_to_quality import ROOT, Results, run_all, run_recipe, select_scale, side_by_side

LOSSES = {
    # dot product for BPR (its usual form); cosine for the contrastive losses, as in SimpleX / SSM
    "bpr": ({"name": "mf", "embedding_dim": 64, "init_std": 0.01, "sparse": True, "similarity": "dot"},
            {"name": "bpr"}, 1e-3, 1e-4),
    "ccl": ({"name": "mf", "embedding_dim": 64, "init_std": 1e-4, "sparse": False, "similarity": "cosine"},
            {"name": "ccl", "margin": 0.9, "negative_weight": 150}, 1e-3, 1e-7),
    "softmax": ({"name": "mf", "embedding_dim": 64, "init_std": 1e-4, "sparse": False, "similarity": "cosine"},
                {"name": "softmax", "temperature": 0.1, "logq_correction": True}, 1e-3, 1e-7),
}


def recipe(loss: str, k: int, batch: int, data: str) -> dict:
    model, loss_cfg, lr, l2 = LOSSES[loss]
    return {"name": f"ratio_{loss}_{k}", "data": {"source": {"source": "gowalla", "path": data}, "merge_valid": True},
            "model": model, "loss": loss_cfg,
            "sampler": {"name": "uniform", "exclude_positives": False, "num_negatives": k},
            "train": {"epochs": 20, "batch_size": batch, "optimizer": "adam", "lr": lr, "l2": l2, "seed": 2020,
                      "threads": 1},
            "eval": {"ks": [20], "metrics": ["recall", "ndcg"], "batch_size": 2048}}


def render(path: Path) -> None:
    doc = json.loads(path.read_text())
    runs = doc["runs"]
    ks = sorted({r["k"] for r in runs})
    lines = [f"Gowalla, MF with uniform negatives, {doc['meta']['budget_s']:.0f} {doc['meta']['clock']} seconds of "
             f"training per run, one thread{side_by_side(doc)}; load {doc['meta']['load_range']}. "
             "Test Recall@20 / NDCG@20 "
             f"(epochs chosen on validation). Command: `{doc['meta']['command']}`", "",
             "| loss | " + " | ".join(f"K={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for loss in LOSSES:
        cells = []
        for k in ks:
            r = next((r for r in runs if r["loss"] == loss and r["k"] == k), None)
            cells.append("—" if r is None else f"{r['final']['test']['recall@20']:.4f} / "
                         f"{r['final']['test']['ndcg@20']:.4f} ({r['final']['epochs']} ep."
                         + (", cut by the budget" if r["final"].get("stopped") == "time_budget" else "") + ")")
        lines.append(f"| {loss} | " + " | ".join(cells) + " |")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for loss in LOSSES:
        pts = sorted((r["k"], r["final"]["test"]["recall@20"]) for r in runs if r["loss"] == loss)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=loss)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("negatives per positive (K)")
    ax.set_ylabel("test Recall@20")
    ax.set_title(f"Negative ratio at equal training time ({doc['meta']['budget_s']:.0f} s), Gowalla", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratios", nargs="+", type=int, default=[1, 4, 16, 64, 256, 1024])
    ap.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    ap.add_argument("--budget", type=float, default=180.0)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="cpu")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--eval-every-s", type=float, default=30.0)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/gowalla"))
    ap.add_argument("--jobs", type=int, default=1, help="training processes side by side (needs --clock cpu)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    ap.add_argument("--name", default="negative_ratio_gowalla")
    ap.add_argument("--render", type=Path)
    args = ap.parse_args()
    if args.render:
        render(args.render)
        return
    scale = select_scale(args.data)
    work = args.out / f"{args.name}-work"
    results = Results(args.out / f"{args.name}.json",
                      {"budget_s": args.budget, "clock": args.clock, "batch_size": args.batch_size})
    results.doc["meta"]["jobs"] = args.jobs
    (work / "recipes").mkdir(parents=True, exist_ok=True)

    def task(loss: str, k: int, spec: dict, file: Path) -> dict:
        res = run_recipe(file, 2020, args.budget, args.eval_every_s, args.data, work, scale, clock=args.clock)
        return {"loss": loss, "k": k, "recipe": spec, **res}

    tasks = []
    for loss in args.losses:
        for k in args.ratios:
            spec = recipe(loss, k, args.batch_size, args.data)
            if results.done(spec["name"], 2020):
                continue
            file = work / "recipes" / f"{spec['name']}.yaml"
            file.write_text(yaml.safe_dump(spec, sort_keys=False))
            tasks.append(partial(task, loss, k, spec, file))
    run_all(tasks, args.jobs, results, args.clock, lambda r: {"loss": r["loss"], "k": r["k"], "final": r["final"]})
    results.save(finished=True)
    render(results.path)


if __name__ == "__main__":
    main()

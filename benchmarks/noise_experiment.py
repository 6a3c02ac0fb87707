"""Robust training on noisy implicit feedback: MF baselines vs T-CE, R-CE, NBPO and PLD.

Protocol (PLD, WWW 2025): Gowalla train+valid -> test; floor(rho * |train_u|)
random items the user never interacted with (in any split) are added to each
user's TRAINING set; the test set stays clean. Every method gets the same
budget (epochs, batch, lr, model) from its ``pipelines/noise_*.yaml``; only
the component under study differs. Reported: Recall@20 / NDCG@20 on the clean
test set, the loss separation of injected vs normal interactions
(``noise_auc_global`` / ``noise_auc_user``) at the last epoch, a table and a
plot of the separation over epochs.

To fit a shared 2-core machine the data is a stated subsample: users with
raw id < ``--max-user`` and the items they have in training (test items
outside that set are dropped).

    python benchmarks/noise_experiment.py --gowalla ../shared/datasets/gowalla \
        --max-user 4000 --ratios 0.2 0 0.1 --epochs 12 --out benchmarks/results/noise
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_neg.config import load_config
from recsys_neg.data import DataConfig, Interactions, build_interactions
from recsys_neg.data.sources.gowalla import GowallaSource
from recsys_neg.data.noise import NoiseConfig, inject_noise
from recsys_neg.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
METHODS = {  # label -> pipeline file
    "MF-BPR (uniform)": "noise_mf_bpr.yaml",
    "MF-BPR + PLD": "noise_pld.yaml",
    "MF-BCE (uniform)": "noise_mf_bce.yaml",
    "T-CE": "noise_tce.yaml",
    "R-CE": "noise_rce.yaml",
    "NBPO": "noise_nbpo.yaml",
}


def subsample_users(data: Interactions, max_user: int) -> Interactions:
    """Users with internal id < max_user (= raw id on Gowalla) and the items they train on."""
    rows = np.arange(min(max_user, data.n_users))
    train = data.train[rows]
    items = np.nonzero(np.asarray(train.sum(0)).ravel() > 0)[0]
    pick = lambda m: None if m is None else sp.csr_matrix(m[rows][:, items])  # noqa: E731
    return Interactions(pick(data.train), pick(data.valid), pick(data.test), data.user_ids[rows],
                        data.item_ids[items], f"{data.name}[users<{max_user}]")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "n/a"


def run_one(label: str, pipeline: str, data: Interactions, ratio: float, args, out: Path) -> dict:
    overrides = [f"train.epochs={args.epochs}", "tracking.enabled=false", "train.progress=false",
                 f"output_dir={args.runs_dir}", f"name={Path(pipeline).stem}-rho{ratio:g}", *args.set]
    cfg = load_config(ROOT / "pipelines" / pipeline, overrides)
    t0 = time.perf_counter()
    res = run_pipeline(cfg, data=data)
    seconds = time.perf_counter() - t0
    last = res.history[-1] if res.history else {}
    row = {"method": label, "pipeline": pipeline, "ratio": ratio, "recall@20": res.test.get("recall@20"),
           "ndcg@20": res.test.get("ndcg@20"), "seconds": seconds, "run_dir": str(res.out_dir),
           "noise_auc_global": last.get("noise_auc_global"), "noise_auc_user": last.get("noise_auc_user"),
           "flip_rates": [last.get("flip_false_positive"), last.get("flip_false_negative")],
           "separation": [{k: h.get(k) for k in ("epoch", "noise_auc_global", "noise_auc_user")}
                          for h in res.history if "noise_auc_global" in h]}
    print(f"{label:18s} rho={ratio:<4g} recall@20={row['recall@20']:.4f} ndcg@20={row['ndcg@20']:.4f} "
          f"auc_user={row['noise_auc_user'] if row['noise_auc_user'] is None else round(row['noise_auc_user'], 3)} "
          f"{seconds:.0f}s | {uptime()}", flush=True)
    return row


def plot(rows: list[dict], ratio: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for row in rows:
        if row["ratio"] != ratio or not row["separation"]:
            continue
        ep = [s["epoch"] for s in row["separation"]]
        axes[0].plot(ep, [s["noise_auc_global"] for s in row["separation"]], label=row["method"])
        axes[1].plot(ep, [s["noise_auc_user"] for s in row["separation"]], label=row["method"])
    for ax, title in zip(axes, ("global AUC", "per-user AUC (mean over users)")):
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{title}, noise ratio {ratio:g}")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("P(loss of injected > loss of normal)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def paired_p(row: dict, ref: dict) -> str:
    """', p=...' of a paired t-test on per-user test Recall@20 against the reference run."""
    try:
        import pandas as pd
        from scipy.stats import ttest_rel

        a = pd.read_csv(Path(row["run_dir"]) / "test_per_user.csv").set_index("user")["recall@20"]
        b = pd.read_csv(Path(ref["run_dir"]) / "test_per_user.csv").set_index("user")["recall@20"]
        a, b = a.align(b, join="inner")
        return f", p={ttest_rel(a, b).pvalue:.2g}"
    except (OSError, KeyError, ValueError):
        return ""


def table(rows: list[dict], ratios: list[float]) -> str:
    base = {r["ratio"]: r for r in rows if r["method"] == "MF-BPR (uniform)"}
    bce = {r["ratio"]: r for r in rows if r["method"] == "MF-BCE (uniform)"}
    head = "| method | " + " | ".join(f"ρ={r:g} R@20 / N@20" for r in ratios) + " | per-user AUC at ρ=max |"
    lines = [head, "|---" * (len(ratios) + 2) + "|"]
    for label in METHODS:
        cells = []
        for ratio in ratios:
            row = next((r for r in rows if r["method"] == label and r["ratio"] == ratio), None)
            if row is None:
                cells.append("—")
                continue
            ref = bce if label in ("T-CE", "R-CE", "NBPO") else base  # point-wise vs point-wise
            delta = ""
            if ref.get(ratio) and row is not ref.get(ratio):
                d = row["recall@20"] / ref[ratio]["recall@20"] - 1
                delta = f" ({d:+.1%}{paired_p(row, ref[ratio])})"
            cells.append(f"{row['recall@20']:.4f} / {row['ndcg@20']:.4f}{delta}")
        last = next((r for r in rows if r["method"] == label and r["ratio"] == max(ratios)), None)
        auc = "—" if last is None or last["noise_auc_user"] is None else f"{last['noise_auc_user']:.3f}"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {auc} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gowalla", default=str(ROOT.parent / "shared/datasets/gowalla"))
    ap.add_argument("--max-user", type=int, default=4000)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.2, 0.0, 0.1],
                    help="run in this order (the most informative first); the table sorts them")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), help="labels from METHODS")
    ap.add_argument("--noise-seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every run, e.g. train.lr=0.01")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/noise"), help="table, JSON and plot")
    ap.add_argument("--runs-dir", default="benchmarks/out/noise_runs", help="run folders (checkpoints), not results")
    ap.add_argument("--append", action="store_true", help="add to OUT/results.json (e.g. one more ratio)")
    ap.add_argument("--report-only", action="store_true",
                    help="redo the table and plot from OUT/results.json (e.g. after an interrupted run)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        rows = json.loads((out / "results.json").read_text())["rows"]
        report(rows, sorted({r["ratio"] for r in rows}), out)
        return
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    full = build_interactions(DataConfig(source=GowallaSource(path=args.gowalla), merge_valid=True))
    clean = subsample_users(full, args.max_user)
    print(f"data: {clean.summary()} | {uptime()}", flush=True)
    results = out / "results.json"
    rows: list[dict] = json.loads(results.read_text())["rows"] if args.append and results.exists() else []
    for ratio in args.ratios:
        data = clean if ratio == 0 else inject_noise(clean, NoiseConfig(ratio=ratio, mode="add", seed=args.noise_seed))
        for label in args.methods:
            rows.append(run_one(label, METHODS[label], data, ratio, args, out))
            results.write_text(json.dumps({"args": vars(args), "data": clean.summary(), "rows": rows}, indent=2))
    report(rows, sorted({r["ratio"] for r in rows}), out)


def report(rows: list[dict], ratios: list[float], out: Path) -> None:
    for ratio in (r for r in ratios if r > 0):
        plot(rows, ratio, out / f"noise_separation_rho{ratio:g}.png")
    text = table(rows, ratios)
    (out / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""Recall@20 after a fixed small budget as the number of negatives per positive grows.

    python benchmarks/negative_ratio_curve.py [--ratios 1 10 100 1000] [--epochs 5] \
        [--gowalla ../shared/datasets/gowalla] [--out benchmarks/results]

MF trained with cosine CCL (margin/weight fixed across ratios, so only K varies) and
with BPR (dot product, loss averaged over the K negatives), uniform per-row negatives,
the same epochs, seed, batch size and learning rate for every point. Without
``--gowalla`` the data is the built-in synthetic dataset (random 70/10/20 split);
with it, Gowalla train+valid -> test. Test Recall@20 is read once after training
(no early stopping, nothing selected on test). Writes negative_ratio_curve.png into
``--out`` (and the points as JSON to ``--json`` if given).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from recsys_neg.config import config_from_dict
from recsys_neg.pipeline import run_pipeline


def data_section(args) -> dict:
    if args.gowalla:
        return {"source": {"source": "gowalla", "path": args.gowalla}, "merge_valid": True}
    return {"source": {"source": "synthetic", "n_users": args.users, "n_items": args.items, "seed": 0},
            "split": {"method": "random", "valid_ratio": 0.1, "test_ratio": 0.2, "seed": 0}}


def run_point(args, loss: str, k: int, out_dir: str) -> dict:
    if loss == "ccl":
        model = {"name": "mf", "embedding_dim": args.dim, "similarity": "cosine", "sparse": False}
        loss_cfg = {"name": "ccl", "margin": args.margin, "negative_weight": args.negative_weight}
    else:
        model = {"name": "mf", "embedding_dim": args.dim, "sparse": False}
        loss_cfg = {"name": "bpr"}
    cfg = config_from_dict({
        "name": f"ratio_{loss}_{k}", "data": data_section(args), "model": model, "loss": loss_cfg,
        "sampler": {"name": "uniform", "exclude_positives": False, "num_negatives": k},
        "train": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                  "l2": 0.0, "early_stopping": None, "progress": False, "seed": 0},
        "eval": {"ks": [20]}, "tracking": {"enabled": False}, "output_dir": out_dir,
    })
    t = time.perf_counter()
    res = run_pipeline(cfg)
    return {"loss": loss, "negatives": k, "recall@20": res.test["recall@20"], "ndcg@20": res.test["ndcg@20"],
            "seconds": time.perf_counter() - t}


def plot(points: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    for loss, label in (("ccl", "MF + CCL (cosine)"), ("bpr", "MF + BPR")):
        pts = sorted((p["negatives"], p["recall@20"]) for p in points if p["loss"] == loss)
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("negatives per positive")
    ax.set_ylabel("test Recall@20")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ratios", type=int, nargs="+", default=[1, 10, 100, 1000])
    ap.add_argument("--losses", nargs="+", default=["ccl", "bpr"], choices=["ccl", "bpr"])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--gowalla", default=None, help="Gowalla folder; default: synthetic data")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--margin", type=float, default=0.5)
    ap.add_argument("--negative-weight", type=float, default=50.0)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--json", default=None, help="also write the points to this JSON file")
    ap.add_argument("--plot-from", nargs="+", default=None,
                    help="only plot: combine the points of these --json files (runs split across processes)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_from:
        saved = [json.loads(Path(p).read_text()) for p in args.plot_from]
        a = saved[0]["args"]
        where = "Gowalla" if a["gowalla"] else f"synthetic {a['users']}x{a['items']}"
        plot([p for s in saved for p in s["points"]], out / "negative_ratio_curve.png",
             f"{where}, MF dim {a['dim']}, {a['epochs']} epochs, batch {a['batch_size']}, lr {a['lr']}")
        return
    print(f"load average: {os.getloadavg()}")
    points = []
    with tempfile.TemporaryDirectory() as runs:
        for loss in args.losses:
            for k in args.ratios:
                p = run_point(args, loss, k, runs)
                points.append(p)
                print(f"{loss:4s} K={k:5d}  Recall@20 {p['recall@20']:.4f}  NDCG@20 {p['ndcg@20']:.4f}  "
                      f"({p['seconds']:.0f} s)", flush=True)
    where = "Gowalla" if args.gowalla else f"synthetic {args.users}x{args.items}"
    title = f"{where}, MF dim {args.dim}, {args.epochs} epochs, batch {args.batch_size}, lr {args.lr}"
    plot(points, out / "negative_ratio_curve.png", title)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "points": points}, indent=2))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

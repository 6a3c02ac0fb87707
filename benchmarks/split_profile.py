"""How Gowalla's validation and test splits differ: what a model chosen on validation is tested on.

For the validation split (held out from train) and the test split: positives per user, and
how popular the held-out items are, counted in the same interactions for both (train.txt, so
that test's figures are not inflated by the validation interactions it is trained with): mean
and median count, share among the top 1% of items.
A split whose positives are less popular rewards popularity-leaning models less, so a
validation ranking across model families need not carry over to test.

    python benchmarks/split_profile.py --out benchmarks/results/split_profile.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from time_to_quality import ROOT


def profile(train, held) -> dict:
    pop = np.asarray(train.sum(axis=0)).ravel()
    items = held.indices
    users = np.diff(held.indptr) > 0
    top = pop >= np.quantile(pop[pop > 0], 0.99)
    return {"positives": int(held.nnz), "per_user": held.nnz / users.sum(),
            "mean_pop": float(pop[items].mean()), "median_pop": float(np.median(pop[items])),
            "top1": float(top[items].mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/gowalla"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/split_profile.md")
    args = ap.parse_args()
    from recsys_neg.data import load_gowalla

    data = load_gowalla(args.data)  # train / valid / test as files: popularity from train.txt for both
    rows = {"valid": profile(data.train, data.valid), "test": profile(data.train, data.test)}
    lines = ["Gowalla splits as the time-to-quality protocol uses them: select on train -> valid, report "
             "train+valid -> test. Popularity = the item's number of interactions in train.txt, for both. "
             "Command: "
             "`python benchmarks/split_profile.py --out benchmarks/results/split_profile.md`", "",
             "| split | positives | per user | mean popularity | median popularity | in the top 1% of items |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['positives']:,} | {r['per_user']:.2f} | {r['mean_pop']:.1f} | "
                     f"{r['median_pop']:.0f} | {r['top1']:.1%} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

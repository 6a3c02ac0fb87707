"""Does EASE fit Gowalla on this machine? Time its closed form on item subsamples and extrapolate.

EASE's cost is one dense n x n float32 matrix (memory n^2 x 4 bytes) and a Cholesky
factorisation + inverse (~n^3 flops). This times ``recsys_neg.models.ease.ease_in_place``
(the model's own fit) on the ``n`` most popular Gowalla items (train+valid), at 1 and 2
BLAS threads, and extrapolates the factorisation time to the full catalogue as (N/n)^3
from the largest subsample.

    python benchmarks/ease_scaling.py --data ../shared/datasets/gowalla --sizes 2000 4000 8000
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from recsys_neg.data.build import load_gowalla
from recsys_neg.models.ease import ease_in_place
from recsys_neg.models.item_item import memory_estimate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/gowalla"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=str(ROOT / "benchmarks/out/ease_scaling.json"))
    args = ap.parse_args()
    data = load_gowalla(args.data, merge_valid=True)
    order = np.argsort(-data.item_popularity, kind="stable")
    full_n = data.n_items
    rows = []
    for threads in args.threads:
        for n in args.sizes:
            train = data.train[:, np.sort(order[:n])]
            out = np.empty((n, n), np.float32)
            phases: dict[str, float] = {}
            load = os.getloadavg()
            with threadpool_limits(threads, "blas"):
                t0 = time.perf_counter()
                ease_in_place(train, 500.0, out, timings=phases)
                total = time.perf_counter() - t0
            rows.append({"items": n, "threads": threads, "seconds": total, **phases,
                         "load_before": load, "load_after": os.getloadavg()})
            print(json.dumps(rows[-1]), flush=True)
            del out
    report = {"dataset": data.summary(), "full_items": full_n,
              "matrix_gib": memory_estimate(full_n, copies=1) / 2 ** 30,
              "peak_gib": memory_estimate(full_n, copies=2) / 2 ** 30, "rows": rows, "extrapolated": {}}
    for threads in args.threads:
        largest = max((r for r in rows if r["threads"] == threads), key=lambda r: r["items"])
        factor = (full_n / largest["items"]) ** 3
        report["extrapolated"][threads] = {
            "from_items": largest["items"],
            "cholesky_plus_inverse_s": (largest["cholesky"] + largest["inverse"]) * factor}
    print(json.dumps(report["extrapolated"], indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Backbone figures on the Gowalla split (train+valid -> test, full ranking).

Prints and saves: full-ranking evaluation time of all users, MF-BPR seconds per
epoch and its Recall@20 / NDCG@20 after a fixed number of epochs, MostPop's
metrics, and LightGCN seconds per epoch at batch 2048 with our symmetric sparse
propagation against two peers measured in the same run on the same batches:
plain ``torch.sparse.mm`` autograd and PyG's ``LGConv`` on ``edge_index``.

    python benchmarks/bench_backbone.py --data ../shared/datasets/gowalla --mf-epochs 30
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from recsys_neg.config import config_from_dict
from recsys_neg.data import load_gowalla
from recsys_neg.evaluation import Evaluator
from recsys_neg.models import build_model
from recsys_neg.pipeline import run_pipeline


def cfg_for(model: dict, epochs: int, out: Path, lr: float, seed: int):
    return config_from_dict({
        "name": f"bench_{model['name']}", "model": model,
        "train": {"epochs": epochs, "batch_size": 2048, "lr": lr, "l2": 1e-4, "seed": seed,
                  "early_stopping": None},
        "eval": {"ks": [20], "metrics": ["recall", "ndcg"], "batch_size": 2048},
        "tracking": {"enabled": False}, "output_dir": str(out)})


def time_lightgcn_steps(data, steps: int, variant: str) -> float:
    """Seconds per training step (propagation forward+backward, BPR) at batch 2048."""
    torch.manual_seed(0)
    model = build_model({"name": "lightgcn", "embedding_dim": 64, "num_layers": 3,
                                     "symmetric_backward": variant == "ours"}, data)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    users_all, items_all = data.train_pairs
    if variant == "pyg":
        from torch_geometric.nn import LGConv

        conv = LGConv(normalize=True)
        rows = torch.cat([users_all, items_all + data.n_users])
        cols = torch.cat([items_all + data.n_users, users_all])
        edge_index = torch.stack([rows, cols])

        def encode():
            x, out = model.embedding, model.embedding
            for _ in range(3):
                x = conv(x, edge_index)
                out = out + x
            out = out / 4
            return out[: data.n_users], out[data.n_users:]
    else:
        def encode():
            enc = model.encode()
            return enc.users, enc.items
    g = torch.Generator().manual_seed(0)
    t0 = None
    for step in range(steps + 1):  # first step is warm-up
        if step == 1:
            t0 = time.perf_counter()
        idx = torch.randint(len(users_all), (2048,), generator=g)
        u, p = users_all[idx], items_all[idx]
        n = torch.randint(data.n_items, (2048,), generator=g)
        eu, ei = encode()
        loss = torch.nn.functional.softplus((eu[u] * ei[n]).sum(-1) - (eu[u] * ei[p]).sum(-1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/datasets/gowalla")
    ap.add_argument("--mf-epochs", type=int, default=30)
    ap.add_argument("--mf-lr", type=float, default=5e-3)
    ap.add_argument("--lightgcn-steps", type=int, default=20, help="timed steps per variant")
    ap.add_argument("--lightgcn-epoch", action="store_true", help="also train one full LightGCN epoch")
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"load_average": os.getloadavg(), "threads": torch.get_num_threads()}

    t = time.perf_counter()
    data = load_gowalla(args.data, merge_valid=True)
    res["load_seconds"] = time.perf_counter() - t
    steps_per_epoch = -(-data.n_train // 2048)
    print(f"data: {data.summary()}  (loaded in {res['load_seconds']:.1f}s)")

    pop = run_pipeline(cfg_for({"name": "mostpop"}, 1, out, 1e-3, 0), data=data)
    res["mostpop"] = pop.test
    print(f"MostPop test: {pop.test}")

    mf = run_pipeline(cfg_for({"name": "mf", "embedding_dim": 64}, args.mf_epochs, out, args.mf_lr, 2020), data=data)
    epoch_s = [h["epoch_seconds"] for h in mf.history]
    res["mf_bpr"] = {"epochs": args.mf_epochs, "lr": args.mf_lr, "test": mf.test,
                     "epoch_seconds_median": sorted(epoch_s)[len(epoch_s) // 2], "epoch_seconds": epoch_s}
    print(f"MF-BPR {args.mf_epochs} epochs: test {mf.test}; median epoch {res['mf_bpr']['epoch_seconds_median']:.2f}s")

    model = build_model({"name": "mf", "embedding_dim": 64}, data)
    ev = Evaluator(data, ks=[20], metrics=["recall", "ndcg"], batch_size=2048)
    ev.evaluate(model, "test")  # warm-up
    times = []
    for _ in range(3):
        t = time.perf_counter()
        r = ev.evaluate(model, "test")
        times.append(time.perf_counter() - t)
    res["eval_seconds_all_users"] = min(times)
    res["eval_users"] = r.n_users
    print(f"full-ranking eval of {r.n_users} users x {data.n_items} items: {min(times):.2f}s (best of 3)")

    lg = {v: time_lightgcn_steps(data, args.lightgcn_steps, v) for v in ("ours", "plain", "pyg")}
    res["lightgcn_step_seconds"] = lg
    res["lightgcn_epoch_seconds_estimate"] = {v: s * steps_per_epoch for v, s in lg.items()}
    res["lightgcn_speedup_vs_plain"] = lg["plain"] / lg["ours"]
    res["lightgcn_speedup_vs_pyg"] = lg["pyg"] / lg["ours"]
    print(f"LightGCN step (batch 2048): ours {lg['ours']:.3f}s, plain sparse.mm {lg['plain']:.3f}s, "
          f"PyG LGConv {lg['pyg']:.3f}s -> epoch ~{lg['ours'] * steps_per_epoch:.0f}s "
          f"({res['lightgcn_speedup_vs_plain']:.2f}x vs plain, {res['lightgcn_speedup_vs_pyg']:.2f}x vs PyG)")
    if args.lightgcn_epoch:
        lgr = run_pipeline(cfg_for({"name": "lightgcn", "embedding_dim": 64, "num_layers": 3}, 1, out, 1e-3, 2020),
                           data=data)
        res["lightgcn_one_epoch"] = {"epoch_seconds": lgr.history[0]["epoch_seconds"], "test": lgr.test}
        print(f"LightGCN one full epoch: {lgr.history[0]['epoch_seconds']:.1f}s, test {lgr.test}")
    res["load_average_end"] = os.getloadavg()
    (out / "backbone.json").write_text(json.dumps(res, indent=2))
    print(f"wrote {out / 'backbone.json'}")


if __name__ == "__main__":
    main()

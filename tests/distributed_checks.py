"""What each of two gloo processes computes in tests/test_distributed.py (spawned; results saved as files).

Everything is built from fixed seeds, so the parent test can compute the one-process
reference from the same inputs.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from helpers import random_interactions
from recsys_neg.distributed.data_parallel import DataParallel
from recsys_neg.distributed.evaluation import ShardedEvaluator
from recsys_neg.distributed.gradients import GradientReducer, ReducingOptimizer
from recsys_neg.evaluation.evaluator import Evaluator
from recsys_neg.models.lightgcn import LightGCN, LightGCNParams
from recsys_neg.models.mf import MF, EmbeddingParams
from recsys_neg.training.optim import build_optimizer

BATCH = 24
NEGATIVES = 3


def data():
    return random_interactions(60, 3000, density=0.02, seed=3)


def model(kind: str):
    torch.manual_seed(0)
    if kind == "lightgcn":
        return LightGCN(data(), LightGCNParams(embedding_dim=8, num_layers=2))
    return MF(data(), EmbeddingParams(embedding_dim=8, sparse=kind != "mf_dense"))


def batch(size: int = BATCH):
    g = torch.Generator().manual_seed(5)
    d = data()
    users = torch.randint(d.n_users, (size,), generator=g)
    # ids far apart (up to 3000) so the bit-cast row ids take many float bit patterns
    return users, torch.randint(d.n_items, (size,), generator=g), torch.randint(d.n_items, (size, NEGATIVES), generator=g)


def loss_of(m, users, pos, neg):
    enc = m.encode()
    u = m.user_vectors(enc, users)
    s_pos = m.score_vectors(u, m.item_vectors(enc, pos))
    s_neg = m.score_vectors(u, m.item_vectors(enc, neg))
    bpr = torch.nn.functional.softplus(s_neg - s_pos.unsqueeze(1)).mean(1).mean()
    return bpr + 1e-3 * m.regularization(users, torch.cat([pos, neg.reshape(-1)]))


def one_step(m, users, pos, neg, step):
    """Gradients of this process's share, then the (reducing) optimiser's step; returns dense grads."""
    opt = step["optimizer"]
    opt.zero_grad()
    if users.numel():
        loss_of(m, users, pos, neg).backward()
    opt.step()
    return {n: (p.grad.to_dense() if p.grad is not None and p.grad.is_sparse else p.grad)
            for n, p in m.named_parameters()}


def run_checks(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    out = {}
    for kind, path, size in [("mf", "gather", BATCH), ("mf", "dense", BATCH), ("mf_dense", "gather", BATCH),
                             ("lightgcn", "gather", BATCH), ("mf", "gather", 1)]:
        m = model(kind)
        inner = build_optimizer(m, "adam", 0.01)
        params = [p for o in inner.optimizers for g in o.param_groups for p in g["params"]]
        reducer = GradientReducer(params, {id(p) for p in m.sparse_parameters()}, world, rank, path)
        users, pos, neg = batch(size)
        mine = torch.tensor_split(torch.arange(size), world)[rank]
        opt = ReducingOptimizer(inner, reducer, lambda: mine.numel() / size)
        grads = one_step(m, users[mine], pos[mine], neg[mine], {"optimizer": opt})
        out[f"{kind}-{path}-{size}"] = {"grads": grads, "params": {n: p.detach().clone() for n, p in m.named_parameters()}}
    # the epoch's loss: each share's mean loss weighted by its share of the global batch, summed
    dp = DataParallel(rank, world, world, "gloo", torch.device("cpu"))
    mine = dp.shard(torch.arange(5))  # 3 and 2 of 5 positives
    out["loss"] = dp.sum(dp.weighted(float(rank + 1)))
    out["agree"] = {"any": dp.any(rank == 1), "seconds": dp.agree_seconds(float(rank + 1)), "share": len(mine)}
    # evaluation: each process ranks its block of users, everyone gets all per-user values
    m = model("mf")
    res = ShardedEvaluator(Evaluator(data(), ks=(5, 20)), world, rank).evaluate(m, "test")
    out["eval"] = {"users": torch.from_numpy(res.users), "metrics": res.metrics,
                   "per_user": {k: torch.from_numpy(v) for k, v in res.per_user.items()}}
    torch.save(out, Path(out_dir) / f"rank{rank}.pt")
    DataParallel(rank, world, world, "gloo", torch.device("cpu")).close()  # barrier, leave, let gloo settle


def reference(kind: str, path: str, size: int) -> dict:
    """The one-process step on the whole batch."""
    m = model(kind)
    users, pos, neg = batch(size)
    grads = one_step(m, users, pos, neg, {"optimizer": build_optimizer(m, "adam", 0.01)})
    return {"grads": grads, "params": {n: p.detach().clone() for n, p in m.named_parameters()}}

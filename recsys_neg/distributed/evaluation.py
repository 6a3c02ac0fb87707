"""Full-ranking evaluation split by users over the data-parallel processes.

Each process ranks a contiguous block of the evaluated users with the usual
``Evaluator`` (its model replica is identical), then the per-user values are
gathered, in user order, on every process: every process gets the same means
(early stopping decides alike everywhere) and rank 0 writes a complete
``test_per_user.csv``. A process still encodes the whole model once per call
(LightGCN's propagation is not split); the ranking work is.
"""
from __future__ import annotations

import time

import numpy as np
import torch.distributed as dist

from ..evaluation.evaluator import EvalResult


class ShardedEvaluator:
    def __init__(self, inner, world_size: int, rank: int, group=None):
        self.inner, self.world_size, self.rank, self.group = inner, world_size, rank, group

    def __getattr__(self, name):  # ks, names, interactions ... as the wrapped evaluator has them
        return getattr(self.inner, name)

    def evaluate(self, model, split: str = "valid", users=None, extras: bool = True) -> EvalResult:
        t0 = time.perf_counter()
        target = self.inner.interactions.split(split) if split in ("valid", "test") else None
        if target is None:  # the same refusal, raised on every process
            return self.inner.evaluate(model, split, users, extras)
        if extras and (self.inner.beyond_options is not None or self.inner.sampled_options is not None):
            # coverage, Gini and the sampled draws are properties of all users' lists together:
            # every process evaluates them all rather than merging per-shard summaries
            return self.inner.evaluate(model, split, users, extras)
        n_users = self.inner.interactions.n_users
        candidates = (np.arange(n_users, dtype=np.int64) if users is None
                      else np.unique(np.asarray(users, dtype=np.int64)))
        if len(candidates) and (candidates[0] < 0 or candidates[-1] >= n_users):
            raise ValueError(f"eval users must lie in [0, {n_users})")
        eval_users = candidates[np.diff(target.indptr)[candidates] > 0]
        mine = np.array_split(eval_users, self.world_size)[self.rank]
        res = self.inner.evaluate(model, split, users=mine, extras=False)
        everyone = [None] * self.world_size
        dist.all_gather_object(everyone, (res.users, res.per_user), group=self.group)
        users_all = np.concatenate([u for u, _ in everyone])
        per_user = {name: np.concatenate([values[name] for _, values in everyone]) for name in res.per_user}
        means = {name: (float(v.mean()) if len(v) else float("nan")) for name, v in per_user.items()}
        return EvalResult(split=split, metrics=means, per_user=per_user, users=users_all,
                          n_users_skipped=int(len(candidates) - len(eval_users)),
                          seconds=time.perf_counter() - t0)

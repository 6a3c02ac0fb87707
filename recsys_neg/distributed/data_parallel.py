"""Data-parallel training over processes started by torchrun (gloo on CPU, NCCL on CUDA).

What each process does, and why it gives the one-process result in distribution:

- every process builds the same data and model (same seed), then copies rank 0's
  parameters once, so the replicas start identical;
- the trainer's shuffle stream (seeded with ``train.seed``) is the same on every
  process, so all agree on each global batch of ``train.batch_size`` positives;
  process r trains on its contiguous share (``tensor_split``), so a run on N
  processes takes the same optimiser steps on the same global batches as one
  process;
- the draws of a step (negatives, candidate pools, selections) come from the
  process's own generator, seeded from (``train.seed``, rank) with numpy's
  ``SeedSequence``; the global torch/numpy/Python streams are reseeded the same way;
- gradients are summed weighted by each share (gradients.py), so the update is
  the gradient of the global batch's mean loss and every replica applies it;
- validation and test rank each process's block of users and gather the
  per-user values (evaluation.py);
- rank 0 alone writes the run folder, the checkpoints and the tracking run; the
  resumable checkpoint carries every process's own streams and component state
  (gathered to rank 0), and each process takes its own back on resume.

Samplers that score or refresh (DNS, SimANS, ALS-static refreshes, hard
candidate pools) work per process on the process's replica, which is identical
everywhere: DNS and SimANS score with the step's own representations; an ALS
list or a model-based refresh is rebuilt by every process (the same work N
times; nothing to exchange). In-batch negatives come from the process's share
of the batch (batch_size / N positives), not the global batch.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from ..errors import ConfigError
from ..training.hooks import Hook
from .evaluation import ShardedEvaluator
from .gradients import GradientReducer, ReducingOptimizer


def rank_seed(seed: int, rank: int) -> int:
    """A seed for process ``rank``'s own streams, independent of the others' (numpy SeedSequence)."""
    words = np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, rank]).generate_state(2, np.uint32)
    return (int(words[0]) << 31 ^ int(words[1])) & 0x7FFF_FFFF_FFFF_FFFF


class DataParallel:
    def __init__(self, rank: int, world_size: int, local_world_size: int, backend: str,
                 device: torch.device, sparse_path: str = "gather"):
        self.rank, self.world_size, self.local_world_size = rank, world_size, local_world_size
        self.backend, self.device, self.sparse_path = backend, device, sparse_path
        self.is_writer = rank == 0
        self.weight = 1.0  # this process's share of the current global batch
        self.reducer: GradientReducer | None = None

    def _tensor(self, value: float) -> torch.Tensor:
        return torch.tensor([value], dtype=torch.float64, device=self.device)

    # ---- set-up ---------------------------------------------------------
    def setup(self, cfg, parts) -> None:
        from ..runs.runtime import configure_threads, seed_everything, usable_cpus

        model = parts.model
        if getattr(model, "self_training", False):
            raise ConfigError(f"model: {type(model).__name__} fits itself (fit_epoch), not by gradient steps on "
                              "batches; data-parallel training does not apply. Run it without torchrun.")
        # torchrun starts N processes per node: share the node's CPUs instead of each taking all of them
        configure_threads(cfg.train.threads or max(1, usable_cpus() // self.local_world_size))
        seed_everything(rank_seed(cfg.train.seed, self.rank) % 2**32)  # parameters are built: own streams now

    def run_dir(self, make: Callable[[], Path]) -> Path:
        box = [str(make()) if self.is_writer else None]
        dist.broadcast_object_list(box, src=0)
        return Path(box[0])

    def info(self) -> dict:
        return {"world_size": self.world_size}

    def hooks(self) -> list:
        return [_CommunicationTime(self)]

    def close(self, finished: bool = True) -> None:
        """Leave the process group, after a finished run once every process is done.

        Gloo's worker thread releases a finished collective's tensors itself; releasing tensors
        that Python created needs the interpreter lock. A process that starts shutting down at
        that moment aborts ("terminate called without an active exception", 1 run in 5-10 here):
        so wait, with the lock released, until that thread is idle."""
        if dist.is_initialized():
            if finished:
                dist.barrier()
            dist.destroy_process_group()
            time.sleep(0.2)

    # ---- training -------------------------------------------------------
    def step_generator(self, generator: torch.Generator, seed: int) -> torch.Generator:
        own = torch.Generator(device=generator.device)
        own.manual_seed(rank_seed(seed, self.rank))
        return own

    def optimizer(self, optimizer, modules: list[torch.nn.Module]):
        with torch.no_grad():  # rank 0's parameters and buffers everywhere: identical replicas
            for module in modules:
                for tensor in module.state_dict().values():
                    dist.broadcast(tensor, src=0)
        params = [p for o in optimizer.optimizers for g in o.param_groups for p in g["params"]]
        sparse = {id(p) for m in modules if hasattr(m, "sparse_parameters") for p in m.sparse_parameters()}
        self.reducer = GradientReducer(params, sparse, self.world_size, self.rank, self.sparse_path)
        return ReducingOptimizer(optimizer, self.reducer, lambda: self.weight)

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        mine = torch.tensor_split(idx, self.world_size)[self.rank]
        self.weight = mine.shape[0] / max(idx.shape[0], 1)
        return mine

    def idle_step(self, optimizer) -> float:
        """A global batch smaller than the process count left this process nothing: it still takes
        part in the gradient sum (contributing nothing) and applies the same update."""
        optimizer.zero_grad()
        optimizer.step()
        return 0.0

    def weighted(self, loss: float) -> float:
        """The share's loss scaled to the global batch (x share x N): a process's running sum reads like
        a one-process loss in its progress line, and ``sum`` of them is the global batches' mean loss."""
        return loss * self.weight * self.world_size

    def sum(self, value: float) -> float:
        """The processes' ``weighted`` sums combined into the global one."""
        t = self._tensor(value)
        dist.all_reduce(t)
        return float(t) / self.world_size

    def any(self, flag: bool) -> bool:
        t = self._tensor(float(flag))
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t > 0)

    def agree_seconds(self, seconds: float) -> float:
        """The slowest process's time: time budgets and timed validation decide alike everywhere."""
        t = self._tensor(seconds)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t)

    # ---- state ----------------------------------------------------------
    def gather_state(self, local: Callable[[], dict]) -> list[dict] | None:
        out = [None] * self.world_size if self.is_writer else None
        dist.gather_object(_on_cpu(local()), out, dst=0)  # a GPU tensor would unpickle onto another GPU
        return out

    def own_state(self, state: dict) -> dict | None:
        return state["ranks"][self.rank]

    def check_resume(self, state: dict, where: Path | None) -> None:
        saved = int(state.get("world_size", 1))
        if saved != self.world_size:
            raise ConfigError(f"{where}: the run was trained by {saved} process(es) and this is {self.world_size}; "
                              f"resume it with the same number (torchrun --nproc_per_node per node, or without "
                              "torchrun for 1) so every process gets its own random streams and state back")

    def load_best(self, model: torch.nn.Module, path: Path, device) -> None:
        """Rank 0 reads the file it wrote and sends the weights: no shared filesystem needed."""
        from ..training.checkpoint import load_checkpoint

        if self.is_writer:
            model.load_state_dict(load_checkpoint(path, device)["model_state"])
        with torch.no_grad():
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, src=0)

    def evaluator(self, evaluator):
        return ShardedEvaluator(evaluator, self.world_size, self.rank)


def _on_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(v) for v in obj)
    return obj


class _CommunicationTime(Hook):
    """Adds ``time_allreduce`` (seconds summing gradients, waiting for the slowest process included)."""

    def __init__(self, parallel: DataParallel):
        self.parallel, self.last = parallel, 0.0

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        reducer = self.parallel.reducer
        now = reducer.seconds if reducer is not None else 0.0
        spent, self.last = now - self.last, now
        return {"time_allreduce": spent, "world_size": float(self.parallel.world_size)}

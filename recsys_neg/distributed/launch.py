"""Joining the process group torchrun set up (its RANK / WORLD_SIZE / LOCAL_RANK variables).

One node, N processes::

    torchrun --standalone --nproc_per_node=N -m recsys_neg train PIPELINE.yaml

Several nodes (the same command on each; HOST:PORT reachable from all of them)::

    torchrun --nnodes=2 --nproc_per_node=G --rdzv_backend=c10d \\
             --rdzv_endpoint=HOST:29400 --rdzv_id=JOB -m recsys_neg train PIPELINE.yaml

Without torchrun (or with one process) nothing is initialised and the run is the
plain one-process run.
"""
from __future__ import annotations

import datetime as dt
import os

from ..errors import ConfigError
from .single import SingleProcess


def launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def from_env(train_cfg):
    """``SingleProcess()``, or a ``DataParallel`` joined to torchrun's process group.

    CUDA (``train.device`` auto with a GPU, or cuda): one GPU per process, the one of
    ``LOCAL_RANK``, and NCCL; otherwise gloo on CPU."""
    world = launched_world_size()
    if world <= 1:
        return SingleProcess()
    import torch
    import torch.distributed as dist

    from ..runs.runtime import resolve_device
    from .data_parallel import DataParallel

    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run without torchrun")
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    device = resolve_device(train_cfg.device)
    timeout = dt.timedelta(minutes=30)
    if device.type == "cuda":
        if train_cfg.device not in ("auto", "cuda"):
            raise ConfigError(f"train.device: {train_cfg.device!r}: under torchrun each process uses the GPU of "
                              "its LOCAL_RANK; write auto or cuda")
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"{local_world} processes on this node but {torch.cuda.device_count()} GPU(s): "
                              "start at most one process per GPU (--nproc_per_node)")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)  # "cuda" in the run's config now means this process's GPU
        dist.init_process_group("nccl", timeout=timeout, device_id=device)
        backend = "nccl"
    else:
        dist.init_process_group("gloo", timeout=timeout)
        backend = "gloo"
    return DataParallel(rank, world, local_world, backend, device if backend == "nccl" else torch.device("cpu"),
                        getattr(train_cfg, "sparse_grads", "gather"))

"""Device, seeds and CPU threads for a run."""
from __future__ import annotations

import os
import random
import time

import numpy as np
import torch

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {name!r} requested but CUDA is not available")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2/v1 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(n, quota)) if quota else max(1, n)


def _cgroup_quota() -> int | None:
    try:  # cgroup v2: "max 100000" or "200000 100000"
        limit, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        return None if limit == "max" else max(1, int(int(limit) // int(period)))
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        limit = int(open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read())
        period = int(open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read())
        return None if limit <= 0 else max(1, limit // period)
    except (OSError, ValueError):
        return None


def configure_threads(requested: int | None) -> int:
    """Set torch's intra-op threads: ``requested``, or the default policy; returns the count."""
    n = requested or default_threads()
    torch.set_num_threads(n)
    return n


def default_threads(usable: int | None = None, busy: float | None = None) -> int:
    """The CPUs this process may use, less those other processes keep busy right now.

    Measured on a shared 2-core machine (benchmarks/results/threads.md): an idle machine runs
    evaluation 1.7x and LightGCN steps 1.5x faster on 2 threads than on 1; a machine kept busy
    by other multithreaded processes runs our 2 threads far slower than 1. Busy CPUs are read
    once, at start, over a fifth of a second (the 1-minute load average lags by a minute and
    counts the job that just finished); load that arrives later is bounded by the short
    OpenMP spin-wait recsys_neg sets before torch starts (``recsys_neg/__init__.py``).
    """
    usable = usable_cpus() if usable is None else usable
    busy = busy_cpus() if busy is None else busy
    return max(1, min(usable, int(usable - busy + 0.5)))


def busy_cpus(window_s: float = 0.2) -> float:
    """CPUs in use by anything (this process is asleep meanwhile), from /proc/stat; else the load average."""
    def sample():
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(window_s)
        total1, idle1 = sample()
        cpus = os.cpu_count() or 1
        return cpus * (1 - (idle1 - idle0) / max(total1 - total0, 1))
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0

"""recsys_neg: collaborative filtering with the negative sampler as a first-class part."""
import os as _os

# OpenMP threads that finish a parallel region spin on the CPU before sleeping (libgomp: up to
# 300,000 spins). On a machine shared with other multithreaded processes, spinning threads take
# the cores the others need and everyone slows down many times over (benchmarks/results/threads.md:
# 2 threads ran 3-24x slower than 1 under such load). A short spin keeps the idle speed and avoids
# the collapse. It must be set before torch loads OpenMP; a user's own setting wins.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "10000"

__version__ = "0.1.0"

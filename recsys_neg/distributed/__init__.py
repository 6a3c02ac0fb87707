"""Beyond one process: data-parallel training under torchrun (gloo on CPU, NCCL on CUDA).

``SingleProcess`` is the plain run (every hook the identity); ``from_env`` joins
torchrun's process group and returns a ``DataParallel`` when several processes
were started. The trainer and the pipeline call the same methods on either.
See docs/distributed.md.
"""
from .launch import from_env, launched_world_size
from .single import SingleProcess

__all__ = ["SingleProcess", "from_env", "launched_world_size"]

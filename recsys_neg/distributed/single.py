"""The one-process run: every hook the trainer and the pipeline call is the identity.

``DataParallel`` (data_parallel.py) implements the same methods for processes
started by torchrun. The trainer and the pipeline call only these methods, so
in one process they compute exactly what they computed before data-parallel
training existed (tests/test_resume.py checks results to the bit).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import ConfigError

if TYPE_CHECKING:  # importing this module stays free of torch (the CLI's tune checks it early)
    import torch


class SingleProcess:
    world_size = 1
    rank = 0
    is_writer = True  # writes the run folder, checkpoints and the tracking run

    # ---- set-up ---------------------------------------------------------
    def setup(self, cfg, parts) -> None:
        """Refuse what cannot run this way; adjust the parts (nothing to do in one process)."""

    def run_dir(self, make: Callable[[], Path]) -> Path:
        return make()

    def info(self) -> dict:
        """Recorded in config.json, metrics.json and the tracking run."""
        return {"world_size": 1}

    def hooks(self) -> list:
        return []

    def close(self, finished: bool = True) -> None:
        pass

    # ---- training -------------------------------------------------------
    def step_generator(self, generator: torch.Generator, seed: int) -> torch.Generator:
        """The stream of a step's draws: the trainer's own (which also shuffles)."""
        return generator

    def optimizer(self, optimizer, modules: list[torch.nn.Module]):
        return optimizer

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch (all of it)."""
        return idx

    def idle_step(self, optimizer) -> float:  # never called: a one-process batch is never empty
        raise AssertionError("an empty batch in a one-process run")

    def weighted(self, loss: float) -> float:
        """This process's contribution to the epoch's mean loss."""
        return loss

    def sum(self, value: float) -> float:
        return value

    def any(self, flag: bool) -> bool:
        return flag

    def agree_seconds(self, seconds: float) -> float:
        return seconds

    # ---- state ----------------------------------------------------------
    def gather_state(self, local: Callable[[], dict]) -> list[dict] | None:
        """Per-process state for the resumable checkpoint (None: the checkpoint's own keys hold it)."""
        return None

    def own_state(self, state: dict) -> dict | None:
        return None

    def check_resume(self, state: dict, where: Path | None) -> None:
        saved = int(state.get("world_size", 1))
        if saved != 1:
            raise ConfigError(f"{where}: the run was trained by {saved} processes (torchrun); resume it with "
                              f"torchrun --nproc_per_node={saved} (per node) so every process gets its own state back")

    def load_best(self, model: torch.nn.Module, path: Path, device) -> None:
        from ..training.checkpoint import load_checkpoint

        model.load_state_dict(load_checkpoint(path, device)["model_state"])

    def evaluator(self, evaluator):
        return evaluator

"""Shared fixtures and settings for the test suite."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

# Tiny tensors: one thread avoids OpenMP hand-off costs that dominate at this size,
# and keeps parallel test workers (pytest -n) from oversubscribing the cores.
torch.set_num_threads(1)

GOWALLA_DIR = Path(__file__).resolve().parents[1].parent / "shared/datasets/gowalla"


@pytest.fixture
def gowalla_dir() -> Path:
    """The shared Gowalla split; the test is skipped on machines without it."""
    if not (GOWALLA_DIR / "train.txt").exists():
        pytest.skip(f"Gowalla not found at {GOWALLA_DIR}")
    return GOWALLA_DIR


@pytest.fixture
def write_lines(tmp_path):
    """Write ``lines`` to ``tmp_path/name`` and return the path."""
    def write(name: str, lines: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path
    return write


def _random_frame(n_rows=400, n_users=30, n_items=25, seed=0, timestamps=False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"user": rng.integers(0, n_users, n_rows), "item": rng.integers(0, n_items, n_rows)})
    if timestamps:
        df["timestamp"] = rng.permutation(n_rows) * 10
    return df


@pytest.fixture
def random_frame():
    """Factory of random (user, item[, timestamp]) frames with repeated pairs, raw int ids."""
    return _random_frame

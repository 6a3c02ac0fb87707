"""A checkpoint is data, never code: crafted files are refused before anything in them runs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from recsys_neg.errors import ConfigError
from recsys_neg.training.checkpoint import load_checkpoint, save_atomic


class WritesAFile:
    """Unpickling this calls os.system: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "best.ckpt"
    torch.save({"model_state": WritesAFile(marker), "config": {}}, path)
    return path, marker


def test_crafted_checkpoint_is_refused_without_its_side_effect(tmp_path):
    path, marker = crafted(tmp_path)
    with pytest.raises(ConfigError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_evaluate_command_refuses_it_too(tmp_path):
    path, marker = crafted(tmp_path)
    out = subprocess.run([sys.executable, "-m", "recsys_neg", "evaluate", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "refused" in out.stderr and str(path) in out.stderr
    assert not marker.exists()


def test_engine_checkpoints_hold_plain_values_only(tmp_path):
    payload = {"model_state": {"w": torch.ones(2)}, "epoch": 3, "config": {"a": [1, 2.5, None, "x"]},
               "rng": {"python": [3, list(range(5)), None]}}
    save_atomic(payload, tmp_path / "c.ckpt")
    back = load_checkpoint(tmp_path / "c.ckpt")
    assert back["epoch"] == 3 and back["config"] == payload["config"] and torch.equal(back["model_state"]["w"],
                                                                                      torch.ones(2))


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.ckpt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ConfigError, match="x.ckpt"):
        load_checkpoint(path)

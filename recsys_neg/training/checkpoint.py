"""Checkpoints: written atomically, holding tensors and plain values only, loaded without pickle's code.

``save_atomic`` writes to a temporary file, fsyncs and renames: a crash mid-write
never leaves a broken file. ``load_checkpoint`` uses ``torch.load(weights_only=True)``,
whose unpickler accepts tensors, numbers, strings, lists, tuples and dicts and
nothing else, so a crafted file (an object whose ``__reduce__`` runs a command)
is refused before anything in it can execute. Checkpoints travel as MLflow
artifacts on shared servers: nothing here may unpickle arbitrary objects.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError


def save_atomic(payload: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{path}: refused: the file holds objects other than tensors and plain values "
                          f"(loading it could run code). {first}") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ConfigError(f"{path}: not a readable checkpoint ({err})") from None
    if not isinstance(payload, dict):
        raise ConfigError(f"{path}: not a recsys_neg checkpoint (top level is {type(payload).__name__})")
    return payload

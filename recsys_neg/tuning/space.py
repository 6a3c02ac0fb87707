"""Draw a trial's values from the ``tuning.space`` and turn them into ``--set`` overrides."""
from __future__ import annotations

from typing import Any

import yaml

from .config import ParamSpec


def format_override(path: str, value: Any) -> str:
    """``path=value`` that ``--set`` parses back to the same value.

    YAML dumping, not ``str``: ``str(1e-05)`` is ``'1e-05'``, which YAML 1.1
    reads as a string; ``yaml.safe_dump`` writes ``1.0e-05``.
    """
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].strip()
    return f"{path}={text}"


def suggest(trial, path: str, spec: ParamSpec) -> Any:
    if spec.type == "categorical":
        return trial.suggest_categorical(path, spec.choices)
    if spec.type == "int":
        return trial.suggest_int(path, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
    return trial.suggest_float(path, spec.low, spec.high, step=spec.step, log=spec.log)


def draw(trial, space: dict[str, ParamSpec]) -> dict[str, Any]:
    """Values of the active parameters, in declaration order (conditions look upwards)."""
    drawn: dict[str, Any] = {}
    for path, spec in space.items():
        if spec.active(drawn):
            drawn[path] = suggest(trial, path, spec)
    return drawn


def to_overrides(values: dict[str, Any]) -> list[str]:
    return [format_override(p, v) for p, v in values.items()]

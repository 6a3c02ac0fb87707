"""Optuna search over any pipeline field; see ``config.py`` for the ``tuning:`` section.

Kept import-light: optuna is only imported by ``study`` / ``objective`` when a search runs.
"""
from .config import ParamSpec, TuningConfig

__all__ = ["ParamSpec", "TuningConfig"]

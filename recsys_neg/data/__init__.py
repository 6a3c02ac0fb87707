"""Data layer: read a source, filter it, encode ids, split, and build Interactions.

Imports are lazy so that validating a ``data:`` section (``data.config``)
needs neither torch nor scipy.
"""
from importlib import import_module

_EXPORTS = {
    "Interactions": ".interactions",
    "DataConfig": ".config",
    "build_interactions": ".build",
    "load_gowalla": ".build",
    "generate_synthetic": ".sources.synthetic",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name], __name__), name)


__all__ = list(_EXPORTS)

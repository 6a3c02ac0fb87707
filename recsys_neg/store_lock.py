"""Serialise first use of a local sqlite store across processes.

MLflow and Optuna create and migrate their schemas when a store is first
opened; two processes doing that at once on one sqlite file collide
(duplicate columns, duplicate alembic versions). A lock file beside the
database makes the first opener finish before the next starts. Server
databases (PostgreSQL) are left to their own transactions.
"""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///...`` URL (None for other stores and in-memory sqlite)."""
    if not url.startswith("sqlite:///") or ":memory:" in url:
        return None
    return Path(url[len("sqlite:///"):]).resolve()


@contextmanager
def store_init_lock(url: str):
    db = sqlite_path(url)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

"""SIGTERM handled like Ctrl-C, so a killed run is closed as KILLED, not left RUNNING.

``kill <pid>`` (SIGTERM) and Ctrl-C (SIGINT) both raise ``KeyboardInterrupt``
in the main thread; the pipeline's ``finally`` then ends the MLflow run with
status KILLED. SIGKILL cannot be caught: ``recsys-neg runs repair`` (or the
next run's start) marks such runs FAILED.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any

_NOT_INSTALLED = object()


_state = {"depth": 0, "pending": None}


def _raise_interrupt(signum, frame):
    if _state["depth"]:  # inside a store write: finish it, raise right after
        _state["pending"] = signum
        return
    raise KeyboardInterrupt(f"terminated by signal {signum}")


@contextmanager
def deferred_interrupt():
    """Hold a SIGTERM that arrives while writing to the tracking store until the write ends.

    An exception raised in the middle of a database transaction can surface as a
    different error (or leave the session unusable), and the run could then not
    be marked KILLED.
    """
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0 and _state["pending"] is not None:
            signum, _state["pending"] = _state["pending"], None
            raise KeyboardInterrupt(f"terminated by signal {signum}")


def install_sigterm_as_interrupt() -> Any:
    """Returns the previous handler, for ``restore_sigterm``; a no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return _NOT_INSTALLED
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def restore_sigterm(previous: Any) -> None:
    if previous is not _NOT_INSTALLED:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def terminate_as_interrupt():
    previous = install_sigterm_as_interrupt()
    try:
        yield
    finally:
        restore_sigterm(previous)

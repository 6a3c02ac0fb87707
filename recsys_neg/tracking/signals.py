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


def _raise_interrupt(signum, frame):
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

import os

# MLflow 3 sends usage telemetry unless told not to; set before mlflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from .base import NullTracker, Tracker, flatten_params  # noqa: E402

__all__ = ["NullTracker", "Tracker", "flatten_params"]

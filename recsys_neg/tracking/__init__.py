from .base import NullTracker, Tracker, flatten_params, metric_key

__all__ = ["NullTracker", "Tracker", "flatten_params", "metric_key"]

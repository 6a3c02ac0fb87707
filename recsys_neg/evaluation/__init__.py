"""Full-ranking top-K evaluation of recommenders."""
from .evaluator import DEFAULT_METRICS, EvalResult, Evaluator
from .metrics import (
    METRICS,
    compute_metrics,
    metric_name,
    parse_ks,
    parse_metric_name,
    parse_metrics,
)

__all__ = [
    "DEFAULT_METRICS",
    "EvalResult",
    "Evaluator",
    "METRICS",
    "compute_metrics",
    "metric_name",
    "parse_ks",
    "parse_metric_name",
    "parse_metrics",
]

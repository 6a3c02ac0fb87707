"""Full-ranking top-K evaluation of recommenders (imports are lazy: comparing saved runs needs no torch)."""
from importlib import import_module

_EXPORTS = {
    "DEFAULT_METRICS": ".evaluator", "EvalResult": ".evaluator", "Evaluator": ".evaluator",
    "METRICS": ".metrics", "compute_metrics": ".metrics", "metric_name": ".metrics",
    "parse_ks": ".metrics", "parse_metric_name": ".metrics", "parse_metrics": ".metrics",
    "beyond_accuracy": ".beyond", "evaluate_recommender": ".external", "evaluate_recommendations": ".external",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name], __name__), name)


__all__ = list(_EXPORTS)

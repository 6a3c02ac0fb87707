"""Top-K ranking metrics, one registry: ``@METRICS.register("name")`` on ``fn(hits, n_rel, k)``.

Inputs: ``hits`` BoolTensor[B, Kmax], ``hits[b, r]`` True when the item at
rank r+1 for user b is relevant; ``n_rel`` LongTensor[B], the number of
relevant items of each user. A metric returns FloatTensor[B] at one K
(K <= Kmax). Users without relevant items are left out by the caller; a
metric gives them 0 rather than a division by zero. Adding a metric is one
file in this package (or any imported module) with the decorator.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from ...errors import ConfigError
from ...metric_key import MetricKey
from ...registry import Registry

METRICS: Registry = Registry("metric", "recsys_neg.evaluation.metrics")


def metric_name(metric: str, k: int) -> str:
    return str(MetricKey(metric, k))


def _check_metric(metric: str) -> str:
    if metric not in METRICS.names():
        raise ConfigError(f"unknown eval metric {metric!r}; valid metrics are: {', '.join(METRICS.names())}")
    return metric


def _check_k(k: object) -> int:
    # bool is an int subclass; "True" as a cutoff is a mistake, not K=1
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"eval K must be a positive integer, got {k!r}")
    return k


def parse_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    """Validated cutoffs, sorted and without duplicates."""
    ks = (ks,) if isinstance(ks, int) else tuple(ks)
    if not ks:
        raise ConfigError("eval needs at least one K")
    return tuple(sorted({_check_k(k) for k in ks}))


def parse_metrics(metrics: str | Iterable[str], ks: int | Iterable[int]) -> list[tuple[str, int]]:
    """Validated (metric, K) pairs, metric-major in the given metric order."""
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise ConfigError(f"eval needs at least one metric; valid metrics are: {', '.join(METRICS.names())}")
    unique = list(dict.fromkeys(_check_metric(m) for m in metrics))
    ks = parse_ks(ks)
    return [(m, k) for m in unique for k in ks]


def parse_metric_name(name: str) -> tuple[str, int]:
    """``"recall@20"`` -> ``("recall", 20)``, with the same validation as above."""
    try:
        key = MetricKey.parse(name)
    except ValueError as err:
        raise ConfigError(f"eval {err}") from None
    return _check_metric(key.metric), _check_k(key.k)


def compute_metrics(hits, n_rel, specs: Sequence[tuple[str, int]]) -> dict:
    """Per-user values of every (metric, K) in ``specs``, keyed by ``metric@K``."""
    if hits.dim() != 2 or n_rel.shape != hits.shape[:1]:
        raise ValueError(f"hits must be [B, Kmax] and n_rel [B], got {tuple(hits.shape)} and {tuple(n_rel.shape)}")
    kmax = hits.shape[1]
    out = {}
    for metric, k in specs:
        if k > kmax:
            raise ValueError(f"K={k} exceeds the hit matrix width {kmax}")
        out[metric_name(metric, k)] = METRICS.get(metric)(hits, n_rel, k)
    return out


__all__ = ["METRICS", "compute_metrics", "metric_name", "parse_ks", "parse_metric_name", "parse_metrics"]

"""Top-K ranking metrics computed from a hit matrix, vectorised over users.

Inputs: ``hits`` BoolTensor[B, Kmax], ``hits[b, r]`` is True when the item at
rank r+1 for user b is relevant; ``n_rel`` LongTensor[B], the number of
relevant items of each user. Every function returns FloatTensor[B] at one K
(K <= Kmax). Users without relevant items must be left out by the caller;
they get 0 here rather than a division by zero.

- recall@K:    hits in the top K / n_rel.
- precision@K: hits in the top K / K.
- ndcg@K:      sum over ranks r <= K of hit_r / log2(r + 1), divided by the same sum
               for min(n_rel, K) hits at the top ranks (binary gain).
- hit@K:       1 if any of the top K items is relevant, else 0 (HitRate).
- mrr@K:       1 / rank of the first relevant item within the top K, else 0.
- map@K:       sum over relevant ranks r <= K of precision@r, divided by n_rel
               (trec_eval's map_cut).

Result names are ``f"{metric}@{k}"``, for example ``recall@20``.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch

from ..errors import ConfigError

Tensor = torch.Tensor


def _top(hits: Tensor, k: int) -> Tensor:
    return hits[:, :k].float()


def _ranks(k: int, device: torch.device) -> Tensor:
    return torch.arange(1, k + 1, dtype=torch.float32, device=device)


def recall(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    return _top(hits, k).sum(1) / n_rel.clamp(min=1)


def precision(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    return _top(hits, k).sum(1) / k


def ndcg(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    discount = 1.0 / torch.log2(_ranks(k, hits.device) + 1.0)
    dcg = (_top(hits, k) * discount).sum(1)
    # ideal DCG for n ideal positions is the prefix sum of the discounts; index 0 means n = 0
    ideal = torch.cat([discount.new_zeros(1), discount.cumsum(0)])
    idcg = ideal[n_rel.clamp(max=k)]
    return dcg / idcg.clamp(min=1e-12)


def hit(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    return hits[:, :k].any(1).float()


def mrr(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    top = _top(hits, k)
    first = top.argmax(1)  # index of the first True (argmax returns the first maximum)
    return top.amax(1) / (first + 1).float()


def map_(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    top = _top(hits, k)
    precision_at_r = top.cumsum(1) / _ranks(k, hits.device)
    return (precision_at_r * top).sum(1) / n_rel.clamp(min=1)


MetricFn = Callable[[Tensor, Tensor, int], Tensor]

METRICS: dict[str, MetricFn] = {
    "recall": recall,
    "precision": precision,
    "ndcg": ndcg,
    "hit": hit,
    "mrr": mrr,
    "map": map_,
}


def metric_name(metric: str, k: int) -> str:
    return f"{metric}@{k}"


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ConfigError(
            f"unknown eval metric {metric!r}; valid metrics are: {', '.join(METRICS)}")
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
        raise ConfigError(f"eval needs at least one metric; valid metrics are: {', '.join(METRICS)}")
    unique = list(dict.fromkeys(_check_metric(m) for m in metrics))
    ks = parse_ks(ks)
    return [(m, k) for m in unique for k in ks]


def parse_metric_name(name: str) -> tuple[str, int]:
    """``"recall@20"`` -> ``("recall", 20)``, with the same validation as above."""
    metric, sep, k = name.partition("@")
    if not sep or not k.strip().isdigit():
        raise ConfigError(f"eval metric name {name!r} must look like 'recall@20'")
    return _check_metric(metric.strip()), _check_k(int(k))


def compute_metrics(hits: Tensor, n_rel: Tensor, specs: Sequence[tuple[str, int]]) -> dict[str, Tensor]:
    """Per-user values of every (metric, K) in ``specs``, keyed by ``metric@K``."""
    if hits.dim() != 2 or n_rel.shape != hits.shape[:1]:
        raise ValueError(f"hits must be [B, Kmax] and n_rel [B], got {tuple(hits.shape)} and {tuple(n_rel.shape)}")
    kmax = hits.shape[1]
    out = {}
    for metric, k in specs:
        if k > kmax:
            raise ValueError(f"K={k} exceeds the hit matrix width {kmax}")
        out[metric_name(metric, k)] = METRICS[metric](hits, n_rel, k)
    return out

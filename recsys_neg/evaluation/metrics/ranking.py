"""The standard top-K metrics (binary relevance), vectorised over users.

- recall@K:    hits in the top K / n_rel.
- precision@K: hits in the top K / K.
- ndcg@K:      sum over ranks r <= K of hit_r / log2(r + 1), divided by the same sum
               for min(n_rel, K) hits at the top ranks.
- hit@K:       1 if any of the top K items is relevant, else 0 (HitRate).
- mrr@K:       1 / rank of the first relevant item within the top K, else 0.
- map@K:       sum over relevant ranks r <= K of precision@r, divided by n_rel
               (trec_eval's map_cut).
"""
from __future__ import annotations

import torch

from . import METRICS

Tensor = torch.Tensor


def _top(hits: Tensor, k: int) -> Tensor:
    return hits[:, :k].float()


def _ranks(k: int, device: torch.device) -> Tensor:
    return torch.arange(1, k + 1, dtype=torch.float32, device=device)


@METRICS.register("recall")
def recall(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    return _top(hits, k).sum(1) / n_rel.clamp(min=1)


@METRICS.register("precision")
def precision(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    return _top(hits, k).sum(1) / k


@METRICS.register("ndcg")
def ndcg(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    discount = 1.0 / torch.log2(_ranks(k, hits.device) + 1.0)
    dcg = (_top(hits, k) * discount).sum(1)
    # ideal DCG for n ideal positions is the prefix sum of the discounts; index 0 means n = 0
    ideal = torch.cat([discount.new_zeros(1), discount.cumsum(0)])
    idcg = ideal[n_rel.clamp(max=k)]
    return dcg / idcg.clamp(min=1e-12)


@METRICS.register("hit")
def hit(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    return hits[:, :k].any(1).float()


@METRICS.register("mrr")
def mrr(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    top = _top(hits, k)
    first = top.argmax(1)  # index of the first True (argmax returns the first maximum)
    return top.amax(1) / (first + 1).float()


@METRICS.register("map")
def map_(hits: Tensor, n_rel: Tensor, k: int) -> Tensor:
    top = _top(hits, k)
    precision_at_r = top.cumsum(1) / _ranks(k, hits.device)
    return (precision_at_r * top).sum(1) / n_rel.clamp(min=1)

"""Sampled metrics, only on request (``eval.sampled``), always labelled ``sampled<N>_...``.

Protocol: each user gets N items drawn uniformly without replacement from the full
ranking's non-relevant candidates (every item except the masked known items and the
user's relevant items: on the test split, the items the user never interacted with).
Each relevant item is then ranked against those N: rank = 1 + #(sampled items scored
>= it), ties counted against the relevant item, so a constant scorer gets the worst
rank; a relevant item the evaluator masks (also a training item) gets rank N + 1 and
never counts. Per user, over its relevant items:

- ``sampled<N>_recall@K`` = share of relevant items with rank <= K (HR@K of the
  leave-one-out protocols, averaged over a user's items);
- ``sampled<N>_ndcg@K``   = mean of 1[rank <= K] / log2(rank + 1) (one relevant item per list).

The user's N items are shared by its relevant items (one draw per user, not per item:
the marginal of each item's ranking is the same, at a fraction of the cost).

Why only on request: sampled metrics are not consistent with full ranking. Krichene &
Rendle (KDD 2020, "On Sampled Metrics for Item Recommendation") show that they do not
preserve "A is better than B" of the full-ranking metric they are named after, not even in
expectation, and that as the sample shrinks all metrics collapse towards AUC. Their
corrected estimators are not applied here. These are for comparing with papers that
report sampled metrics, not for choosing models.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError


def metric_names(negatives: int, ks) -> list[str]:
    return [f"sampled{negatives}_{m}@{k}" for m in ("recall", "ndcg") for k in ks]


def sample_candidates(excluded_rows: torch.Tensor, excluded_cols: torch.Tensor, n_rows: int, n_items: int,
                      num: int, generator: torch.Generator) -> torch.Tensor:
    """[n_rows, num] distinct items per row, uniform among the items not excluded in that row.

    Uniform without replacement through random keys: every allowed item gets a uniform key,
    excluded items a key above all of them, and the ``num`` smallest keys win.
    """
    device = excluded_rows.device
    keys = torch.rand(n_rows, n_items, generator=generator, device=device)
    keys.index_put_((excluded_rows, excluded_cols), torch.tensor(2.0, device=device))
    values, items = torch.topk(keys, num, dim=1, largest=False)
    short = (values >= 2.0).any(1)
    if short.any():
        row = int(short.nonzero()[0, 0])
        free = int((keys[row] < 2.0).sum())
        raise ConfigError(f"eval.sampled.negatives={num}: a user has only {free} items outside its known and "
                          f"relevant ones to sample from; lower eval.sampled.negatives")
    return items


def sampled_ranks(scores: torch.Tensor, candidates: torch.Tensor, rel_rows: torch.Tensor,
                  rel_cols: torch.Tensor) -> torch.Tensor:
    """1-based rank of each relevant (row, item) pair among its row's sampled items (ties pessimistic)."""
    positive = scores[rel_rows, rel_cols]
    sampled = scores.gather(1, candidates)[rel_rows]
    return 1 + (sampled >= positive.unsqueeze(1)).sum(1)


def per_user_metrics(ranks: torch.Tensor, rel_rows: torch.Tensor, n_rel: torch.Tensor, negatives: int,
                     ks) -> dict[str, torch.Tensor]:
    """Per-row means over each row's relevant items, keyed as ``metric_names`` gives them."""
    rows = n_rel.shape[0]
    denom = n_rel.clamp(min=1).double()
    out = {}
    for k in ks:
        hit = (ranks <= k).double()
        out[f"sampled{negatives}_recall@{k}"] = torch.zeros(rows, dtype=torch.float64,
                                                            device=ranks.device).index_add_(0, rel_rows, hit) / denom
    for k in ks:
        gain = (ranks <= k).double() / torch.log2(ranks.double() + 1)
        out[f"sampled{negatives}_ndcg@{k}"] = torch.zeros(rows, dtype=torch.float64,
                                                          device=ranks.device).index_add_(0, rel_rows, gain) / denom
    return out


__all__ = ["metric_names", "per_user_metrics", "sample_candidates", "sampled_ranks"]

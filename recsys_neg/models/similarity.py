"""How user and item vectors become a score: dot product or cosine, in one place."""
from __future__ import annotations

import torch
from torch import nn


def pair_scores(u: torch.Tensor, v: torch.Tensor, similarity: str = "dot") -> torch.Tensor:
    """u [B,d] with v [B,d] -> [B]; with v [B,K,d] or one shared set [1,K,d] -> [B,K]."""
    per_row = v.dim() == 3 and not (v.shape[0] == 1 and u.shape[0] != 1)
    if similarity == "cosine":
        u = nn.functional.normalize(u, dim=-1)
        if per_row:
            # Divide the [B,K] dots by the norms instead of normalising v: at large K a
            # normalised copy of the [B,K,d] gather would double the step's memory.
            dots = torch.bmm(v, u.unsqueeze(-1)).squeeze(-1)
            return dots / torch.linalg.vector_norm(v, dim=-1).clamp_min(1e-12)
        v = nn.functional.normalize(v, dim=-1)
    if v.dim() == 2:
        return (u * v).sum(-1)
    if not per_row:  # one negative set [1,K,d] shared by the batch: a B x K matmul
        return u @ v[0].T
    return torch.bmm(v, u.unsqueeze(-1)).squeeze(-1)


def for_ranking(x: torch.Tensor, similarity: str = "dot") -> torch.Tensor:
    """Vectors ready for ranking by plain matmul: normalised once for cosine."""
    return nn.functional.normalize(x, dim=-1) if similarity == "cosine" else x

"""MixGCF (Huang et al., KDD 2021): hard negatives synthesised by positive mixing and hop mixing.

For every negative slot, ``candidates`` uniform items (training positives excluded,
exactly) are drawn. Per propagation layer l (LightGCN keeps its layers; a model without
layers, MF, has one):

1. positive mixing: e'_m^(l) = a^(l) e_pos^(l) + (1 - a^(l)) e_m^(l), a^(l) ~ U(0, 1)
   drawn per row, slot and layer, shared by the slot's candidates (as the official code);
2. hop mixing: at each layer keep the candidate whose mixed layer scores highest
   against the user's pooled vector, then pool the kept layers the model's way
   (``pool_layers``; LightGCN: their mean).

The result is a synthesised vector per slot, with gradient into the positive and the
kept candidates' layer embeddings; ``items`` names the candidate kept at layer 0 (the
ego embedding L2 regularisation touches). With MF (one layer) it degrades to "mix each
candidate with the positive, keep the hardest mixture".

Where this differs from the official code (huangtinglin/MixGCF, ``negative_sampling``):
its default ``pool: concat`` scores each hop against the user's same hop; here the
pooled user vector scores every hop, which is the official ``pool: mean`` mode and
LightGCN's own pooling. The choice is made without gradient and the kept mixtures are
rebuilt with gradient (same values, far less memory than indexing the [B, M, L, d]
mixture); scores use the model's similarity (dot or cosine). Its L2 term is on the
mixed ego embedding, ours on the named item's; exclusion applies to the candidates
(a mixture is part positive by construction). Official defaults: 64 candidates, K = 1.
"""
from __future__ import annotations

import torch
from pydantic import Field

from .base import SAMPLERS, ExcludesPositives, Negatives, NegativeSampler, SamplerParams, require_representations
from .candidates import CandidatePool


class MixGCFParams(SamplerParams, ExcludesPositives):
    candidates: int = Field(64, ge=1, description="uniform candidates per negative slot (the paper's M)")
    max_pairs: int = Field(1 << 16, ge=1, description="(row, candidate, layer) mixtures scored at once")


def hop_choice(rep, users: torch.Tensor, pos_layers: torch.Tensor, cand: torch.Tensor, alpha: torch.Tensor,
               max_pairs: int) -> torch.Tensor:
    """[B, K, L] index into the M candidates: per layer, the mixture the user scores highest.

    pos_layers [B, L, d], cand [B, K, M], alpha [B, K, L]. No gradient; chunked by rows."""
    b, k, m = cand.shape
    n_layers = pos_layers.shape[1]
    per_row = k * m * n_layers
    rows = max(1, max_pairs // per_row)
    out = []
    for lo in range(0, b, rows):
        hi = min(lo + rows, b)
        n_l = rep.item_layers(cand[lo:hi])  # [r, K, M, L, d]
        a = alpha[lo:hi].unsqueeze(2).unsqueeze(-1)  # [r, K, 1, L, 1]
        mixed = a * pos_layers[lo:hi, None, None] + (1 - a) * n_l
        scores = rep.scores_of(users[lo:hi], mixed.reshape(hi - lo, per_row, -1)).view(hi - lo, k, m, n_layers)
        out.append(scores.argmax(dim=2))
    return torch.cat(out)


def kept_layers(rep, chosen: torch.Tensor) -> torch.Tensor:
    """[B, K, L] item ids (one per layer) -> [B, K, L, d]: layer l of the item kept at layer l."""
    every = rep.item_layers(chosen)  # [B, K, L(ids), L(layers), d]
    return every.diagonal(dim1=2, dim2=3).movedim(-1, -2)


@SAMPLERS.register("mixgcf")
class MixGCFSampler(NegativeSampler):
    Params = MixGCFParams

    def __init__(self, data, params: MixGCFParams, device="cpu"):
        super().__init__(data, params, device)
        self.pool = CandidatePool(data, params.exclude_positives, self.device)

    def sample(self, users, positives, num, step, scorer=None):
        rep = require_representations(scorer, "mixgcf")
        if positives is None:
            raise ValueError("the mixgcf sampler mixes with the batch positives: pass them")
        b, m = users.shape[0], self.params.candidates
        cand = self.pool.draw(users, num * m, step).view(b, num, m)
        with torch.no_grad():
            pos_layers = rep.item_layers(positives)
            alpha = torch.rand((b, num, pos_layers.shape[1]), generator=step.generator, device=users.device)
            idx = hop_choice(rep, users, pos_layers, cand, alpha, self.params.max_pairs)
        chosen = cand.gather(2, idx)  # [B, K, L]
        a = alpha.unsqueeze(-1).to(pos_layers.dtype)
        mixed = a * rep.item_layers(positives).unsqueeze(1) + (1 - a) * kept_layers(rep, chosen)
        return Negatives(chosen[..., 0], vectors=rep.pool_layers(mixed))

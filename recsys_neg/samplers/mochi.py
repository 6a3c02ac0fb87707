"""MoCHi (Kalantidis et al., "Hard Negative Mixing for Contrastive Learning", NeurIPS 2020),
transferred to CF: synthetic negatives mixed from the hardest candidates and the positive.

Per row, a pool of max(``candidates``, num) uniform items (training positives excluded,
exactly) is scored by the model; its ``hardest`` N are the mixing material. Each of the
row's ``num`` negative slots is one of three kinds:

- a mixture of two hardest negatives, h = a n_i + (1 - a) n_j, a ~ U(0, 1), i != j
  (the paper's s points), share ``mix_negatives`` of the slots;
- a mixture of the positive with a hardest negative, h' = b e_pos + (1 - b) n_j,
  b ~ U(0, ``max_beta``) (the paper's s' points, mixing the query side; in CF the key of
  the user is its positive item, so that is what is mixed), share ``mix_positive``;
- a real pool item in draw order (uniform), the rest: MoCHi adds its synthetic points to
  the memory's real negatives, it does not replace them.

Per row the counts are floor(share * num + u), u ~ U(0, 1) shared by the row (systematic
rounding), so every kind gets its share in expectation even at num = 1 (BPR) and the
counts never exceed num. Synthetic points are l2-normalised (h / ||h||) when the model
scores by cosine (``normalize: null`` follows the model; true / false force it).

Where this differs from the paper: MoCHi mixes features from MoCo's queue of
momentum-encoder keys, which carry no gradient; here the material is the model's own
item vectors, so ``detach_synthetic: true`` (default) keeps the synthetic points
gradient-free in the same way (the user is pushed from them; the items mixed are not
moved by them) and ``false`` lets gradient reach the mixed items and the positive, as
MixGCF does. The hardest are chosen from a uniform pool, not from a 16k-65k queue; the
paper's counts are absolute (s, s'), ours shares of ``num``. The pool's items are
named for L2 and logging (a mixture names its first source negative). No official code
was released with the paper that we could find; this follows its Section 4.
"""
from __future__ import annotations

import torch
from pydantic import Field, model_validator

from .base import SAMPLERS, ExcludesPositives, Negatives, NegativeSampler, SamplerParams, require_representations
from .candidates import CandidatePool, scores_in_chunks

REAL, MIX_NEG, MIX_POS = 0, 1, 2


class MoCHiParams(SamplerParams, ExcludesPositives):
    candidates: int = Field(64, ge=2, description="uniform pool per row (at least num)")
    hardest: int = Field(16, ge=1, description="N: the hardest pool items used for mixing")
    mix_negatives: float = Field(0.5, ge=0, le=1, description="share of slots mixing two hardest negatives")
    mix_positive: float = Field(0.25, ge=0, le=1, description="share of slots mixing the positive in")
    max_beta: float = Field(0.5, gt=0, le=1, description="positive weight b ~ U(0, max_beta)")
    normalize: bool | None = Field(None, description="l2-normalise synthetic points; null = when cosine")
    detach_synthetic: bool = True

    @model_validator(mode="after")
    def _consistent(self):
        if self.mix_negatives + self.mix_positive > 1 + 1e-9:
            raise ValueError("mix_negatives + mix_positive must be at most 1 (shares of the negatives)")
        if self.hardest > self.candidates:
            raise ValueError(f"hardest ({self.hardest}) cannot exceed candidates ({self.candidates})")
        return self


def slot_kinds(rows: int, num: int, shares: tuple[float, float], generator, device) -> torch.Tensor:
    """[rows, num] of REAL / MIX_NEG / MIX_POS: floor(share * num + u) mixtures per row, u shared."""
    u = torch.rand((rows, 1), generator=generator, device=device, dtype=torch.float64)
    c1 = torch.floor(shares[0] * num + u)
    c12 = torch.floor((shares[0] + shares[1]) * num + u).clamp_max(num)
    j = torch.arange(num, device=device, dtype=torch.float64)
    kinds = torch.full((rows, num), REAL, dtype=torch.long, device=device)
    kinds[j < c12] = MIX_POS
    kinds[j < c1] = MIX_NEG
    return kinds


@SAMPLERS.register("mochi")
class MoCHiSampler(NegativeSampler):
    Params = MoCHiParams

    def __init__(self, data, params: MoCHiParams, device="cpu", model=None):
        super().__init__(data, params, device)
        self.pool = CandidatePool(data, params.exclude_positives, self.device)
        cosine = getattr(model, "similarity", "dot") == "cosine"
        self.normalize = cosine if params.normalize is None else params.normalize

    def sample(self, users, positives, num, step, scorer=None):
        rep = require_representations(scorer, "mochi")
        if positives is None:
            raise ValueError("the mochi sampler mixes with the batch positives: pass them")
        p, gen = self.params, step.generator
        b, dev = users.shape[0], users.device
        size = max(p.candidates, num)
        n_hard = min(p.hardest, size)
        pool = self.pool.draw(users, size, step)
        with torch.no_grad():
            hard = scores_in_chunks(rep, users, pool).topk(n_hard, dim=1).indices  # [B, N] into the pool
        kinds = slot_kinds(b, num, (p.mix_negatives, p.mix_positive), gen, dev)
        # every slot is lam * src[a] + (1 - lam) * src[c] over src = [pool items..., positive]
        i = torch.randint(n_hard, (b, num), generator=gen, device=dev)
        j = (i + 1 + torch.randint(max(n_hard - 1, 1), (b, num), generator=gen, device=dev)) % n_hard
        lam = torch.rand((b, num), generator=gen, device=dev)
        own = torch.arange(num, device=dev).expand(b, -1)
        a = torch.where(kinds == MIX_NEG, hard.gather(1, i), torch.where(kinds == MIX_POS, size, own))
        c = torch.where(kinds == REAL, own, hard.gather(1, j))
        lam = torch.where(kinds == MIX_NEG, lam, torch.where(kinds == MIX_POS, lam * p.max_beta, 1.0))
        src_items = torch.cat([pool, positives.unsqueeze(1)], dim=1)
        items = torch.where(kinds == MIX_POS, src_items.gather(1, c), src_items.gather(1, a))
        va, vc = rep.item_vectors(src_items.gather(1, a)), rep.item_vectors(src_items.gather(1, c))
        synthetic = (kinds != REAL).unsqueeze(-1)
        lam = lam.unsqueeze(-1).to(va.dtype)
        out = torch.lerp(vc, va, lam)  # one [B, K, d] result; lam = 1 (a real slot) gives va exactly
        if self.normalize:
            out = torch.where(synthetic, torch.nn.functional.normalize(out, dim=-1), out)
        if p.detach_synthetic:
            out = torch.where(synthetic, out.detach(), out)
        return Negatives(items, vectors=out)

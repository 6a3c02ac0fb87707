"""A mix of samplers by fraction of the negatives (STAR/ADORE's hard + random, popularity + uniform).

``{name: mixed, parts: [{name: dns, candidates: 32, fraction: 0.5}, {name: uniform, fraction: 0.5}]}``.
Each part gets floor(fraction * num) negatives of every row; the slots left over
(fewer than the number of parts) are filled per row by a part drawn with
probability proportional to its leftover share, so every part's expected share
is exactly its fraction (with one negative, a 50/50 mix picks per row).
The mixture's proposal has no closed form from the parts, so ``log_q`` is
dropped; parts' weights are kept (1 where a part gives none). When a part
synthesises its negatives (``vectors``: mixgcf, mochi), the other parts' items are
looked up through the step's representations so every slot carries a vector.
"""
from __future__ import annotations

import math

import torch
from pydantic import Field, field_validator

from .base import SAMPLERS, Negatives, NegativeSampler, SamplerParams
from .nested import MixedPart, without_own_count


def _star_adore_default() -> list[dict]:
    return [{"name": "dns", "candidates": 32, "fraction": 0.5}, {"name": "uniform", "fraction": 0.5}]


class MixedParams(SamplerParams):
    parts: list[MixedPart] = Field(default_factory=_star_adore_default, min_length=2, validate_default=True)

    @field_validator("parts")
    @classmethod
    def _valid_parts(cls, parts: list[MixedPart]) -> list[MixedPart]:
        total = sum(p.fraction for p in parts)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"fractions must sum to 1, got {total:g}")
        for i, part in enumerate(parts):
            if SAMPLERS.name_of(part.sampler) == "mixed":
                raise ValueError(f"parts.{i}: a mixed part cannot itself be mixed; list its parts here")
            without_own_count(part.sampler, f"parts.{i}", "mixed")
        return parts


def expand_rows(neg: Negatives, rows: int) -> Negatives:
    """A shared [1, K] draw as [rows, K], so parts can be concatenated per row."""
    if neg.items.shape[0] == rows:
        return neg
    grow = lambda t: None if t is None else t.expand(rows, *([-1] * (t.dim() - 1)))  # noqa: E731
    return Negatives(neg.items.expand(rows, -1), grow(neg.log_q), grow(neg.weight), grow(neg.vectors))


@SAMPLERS.register("mixed")
class MixedSampler(NegativeSampler):
    Params = MixedParams

    def __init__(self, data, params: MixedParams, device="cpu", **parts):
        super().__init__(data, params, device)
        self.parts = [SAMPLERS.build(p.sampler, data=data, device=device, **parts) for p in params.parts]
        self.fractions = torch.tensor([p.fraction for p in params.parts], dtype=torch.float64)

    @property
    def excludes_positives(self) -> bool:
        return all(s.excludes_positives for s in self.parts)

    def counts(self, num: int) -> tuple[list[int], torch.Tensor]:
        """Fixed negatives per part, and the leftover shares for the remaining slots."""
        exact = self.fractions * num
        fixed = exact.floor()
        return [int(c) for c in fixed], exact - fixed

    def epoch_start(self, step):
        for s in self.parts:
            s.epoch_start(step)

    def state_dict(self) -> dict:
        return {str(i): s.state_dict() for i, s in enumerate(self.parts)}

    def load_state_dict(self, state: dict) -> None:
        for i, s in enumerate(self.parts):
            s.load_state_dict(state.get(str(i), {}))

    def sample(self, users, positives, num, step, scorer=None):
        gen = step.generator
        b = users.shape[0]
        fixed, share = self.counts(num)
        left = num - sum(fixed)
        items, weights, vectors = [], [], []
        for sampler, k in zip(self.parts, fixed):
            if k:
                neg = expand_rows(sampler.sample(users, positives, k, step, scorer), b)
                items.append(neg.items)
                weights.append(neg.weight)
                vectors.append(neg.vectors)
        if left:
            # Each leftover slot: every part proposes one negative, one part is chosen.
            share_dev = share.float().to(users.device)  # the generator lives on the batch's device
            choice = torch.multinomial(share_dev.expand(b * left, -1), 1, replacement=True,
                                       generator=gen).view(b, left)
            extra_items = torch.empty((b, left), dtype=torch.long, device=users.device)
            extra_w = torch.ones((b, left), device=users.device)
            any_w = False
            proposals = []
            for j, sampler in enumerate(self.parts):
                if share[j] <= 0:
                    continue
                neg = expand_rows(sampler.sample(users, positives, left, step, scorer), b)
                mine = choice == j
                extra_items[mine] = neg.items[mine]
                if neg.weight is not None:
                    extra_w[mine], any_w = neg.weight[mine], True
                proposals.append((mine, neg))
            items.append(extra_items)
            weights.append(extra_w if any_w else None)
            vectors.append(chosen_vectors(proposals, scorer)
                           if any(n.vectors is not None for _, n in proposals) else None)
        out_items = torch.cat(items, dim=1)
        out_vectors = None
        if any(v is not None for v in vectors):
            out_vectors = torch.cat([scorer.item_vectors(t) if v is None else v for t, v in zip(items, vectors)],
                                    dim=1)
        if all(w is None for w in weights):
            return Negatives(out_items, vectors=out_vectors)
        full = [torch.ones(t.shape, device=users.device) if w is None else w for t, w in zip(items, weights)]
        return Negatives(out_items, weight=torch.cat(full, dim=1), vectors=out_vectors)


def chosen_vectors(proposals, scorer) -> torch.Tensor:
    """[B, left, d]: per leftover slot, the vector of the part chosen for it (looked up where
    that part gave ids only)."""
    parts = [n.vectors if n.vectors is not None else scorer.item_vectors(n.items) for _, n in proposals]
    out = torch.zeros_like(parts[0])
    for (mine, _), vec in zip(proposals, parts):
        out = torch.where(mine.unsqueeze(-1), vec, out)
    return out

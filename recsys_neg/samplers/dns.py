"""Dynamic negative sampling (DNS, Zhang et al. SIGIR 2013): hard negatives from uniform candidates.

Candidates are uniform draws (training positives excluded); the model scores
them with this step's representations (the step's scorer, no second
propagation) and the hardest are kept, or drawn by softmax(score / temperature).

``pool: per_negative`` (default) gives every negative slot its own
``candidates`` draws and keeps one of them — with 1 negative this is DNS's
"best of M"; ``pool: per_row`` draws ``candidates`` per row and keeps the
top-``num`` (without replacement), which needs candidates >= num.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from .base import SAMPLERS, ExcludesPositives, Negatives, NegativeSampler, SamplerParams, require_scorer
from .candidates import CandidatePool, scores_in_chunks


class DNSParams(SamplerParams, ExcludesPositives):
    candidates: int = Field(32, ge=1, description="uniform candidates per negative (or per row)")
    pool: Literal["per_negative", "per_row"] = "per_negative"
    selection: Literal["top", "softmax"] = "top"
    temperature: float = Field(1.0, gt=0, description="softmax selection: lower is harder")

    @model_validator(mode="after")
    def _enough_candidates(self):
        if self.pool == "per_row" and self.candidates < self.num_negatives:
            raise ValueError(f"candidates: {self.candidates} per row cannot give num_negatives="
                             f"{self.num_negatives} distinct negatives; raise it or use pool: per_negative")
        return self


def pick(scores: torch.Tensor, k: int, selection: str, temperature: float, generator) -> torch.Tensor:
    """Indices [R, k] into the last axis of scores [R, M]: top-k, or softmax draws without replacement."""
    if selection == "top":
        return scores.topk(k, dim=-1).indices
    probs = torch.softmax(scores / temperature, dim=-1)
    return torch.multinomial(probs, k, replacement=False, generator=generator)


@SAMPLERS.register("dns")
class DNSSampler(NegativeSampler):
    Params = DNSParams

    def __init__(self, data, params: DNSParams, device="cpu"):
        super().__init__(data, params, device)
        self.pool = CandidatePool(data, params.exclude_positives, self.device)

    def sample(self, users, positives, num, step, scorer=None):
        scorer = require_scorer(scorer, "dns")
        p, gen = self.params, step.generator
        b = users.shape[0]
        if p.pool == "per_row":
            if p.candidates < num:  # a composite sampler asked for more than this part's config allows
                raise ValueError(f"dns: {p.candidates} candidates per row cannot give {num} distinct negatives")
            cand = self.pool.draw(users, p.candidates, step)
            idx = pick(scores_in_chunks(scorer, users, cand), num, p.selection, p.temperature, gen)
            return Negatives(cand.gather(1, idx))
        cand = self.pool.draw(users, num * p.candidates, step)
        scores = scores_in_chunks(scorer, users, cand).view(b * num, p.candidates)
        idx = pick(scores, 1, p.selection, p.temperature, gen).view(b, num)
        return Negatives(cand.view(b, num, p.candidates).gather(2, idx.unsqueeze(2)).squeeze(2))

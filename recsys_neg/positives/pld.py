"""PLD: personalised loss distribution resampling of positives (Zhang et al., WWW 2025, arXiv 2502.00348).

Observation behind it: for a given user, noisy interactions keep larger losses
than normal ones. For each (user, positive) of the batch, PLD draws k-1 more
candidate positives from the user's training items, scores all k candidates
with the current model WITHOUT gradient, and trains on one candidate drawn
with probability ``softmax(-loss / tau)`` over the k. Before ``start_epoch``
the positives pass through unchanged (the model first needs to fit something).

As in the official code (Kaike-Zhang/PLD, ``utls/trainer.py``), every
candidate of a user is scored against the SAME negative, here drawn from the
run's sampler, and the candidate loss is the run's loss (``per_example``);
both are handed to the selector when it is built, so PLD works with BPR, BCE
and the others and with any sampler or model. Differences: the official code draws k candidates
per randomly chosen user without replacement; here the batch's own positive
is always a candidate and the k-1 others are drawn uniformly with replacement
from the user's training items (vectorised on the CSR), so a user with fewer
than k items is handled without a special case. The negative used for scoring
is a fresh draw, independent of the step's training negatives.
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from ..registry import Params
from .base import POSITIVES, PositiveSelector


class PLDParams(Params):
    k: int = Field(5, ge=1, description="candidate positives per (user, positive), the given one included")
    tau: float = Field(0.1, gt=0, description="softmax temperature over -loss")
    start_epoch: int = Field(6, ge=1, description="first epoch (1-based) that resamples; the official code starts at its 6th")
    num_negatives: int = Field(1, ge=1, description="negatives per user for scoring the candidates")


@POSITIVES.register("pld")
class PLDSelector(PositiveSelector):
    Params = PLDParams

    def __init__(self, data, params: PLDParams, device="cpu", *, loss, sampler):
        super().__init__(data, params, device)
        self.loss, self.sampler = loss, sampler
        self.indptr = torch.from_numpy(data.train.indptr.astype(np.int64)).to(self.device)
        self.indices = torch.from_numpy(data.train.indices.astype(np.int64)).to(self.device)

    def draw_candidates(self, users: torch.Tensor, positives: torch.Tensor,
                        generator: torch.Generator | None) -> torch.Tensor:
        """[B, k]: the given positive first, then k-1 uniform draws from each user's training items."""
        k = self.params.k
        if k == 1:
            return positives.unsqueeze(1)
        start = self.indptr[users]
        degree = self.indptr[users + 1] - start
        u = torch.rand((users.shape[0], k - 1), generator=generator, device=users.device)
        offset = (u * degree.unsqueeze(1)).long().clamp_max(degree.unsqueeze(1) - 1)
        return torch.cat([positives.unsqueeze(1), self.indices[start.unsqueeze(1) + offset]], dim=1)

    @torch.no_grad()
    def candidate_losses(self, users: torch.Tensor, candidates: torch.Tensor, step, scorer) -> torch.Tensor:
        """[B, k] loss of each candidate against one negative set per user (shared by its candidates)."""
        b, k = candidates.shape
        negs = self.sampler.sample(users, candidates[:, 0], self.params.num_negatives, step, scorer)
        pos_scores = scorer(users, candidates)  # [B, k]
        neg_scores = scorer(users, negs.items)  # [B, n] or [B, n] from a shared [1, n]
        expand = lambda t: None if t is None else t.expand(b, -1).repeat_interleave(k, dim=0)  # noqa: E731
        losses = self.loss.per_example(pos_scores.reshape(-1), expand(neg_scores),
                                          expand(negs.weight), expand(negs.log_q))
        return losses.view(b, k)

    def resample(self, candidates: torch.Tensor, losses: torch.Tensor,
                 generator: torch.Generator | None) -> torch.Tensor:
        """One candidate per row, drawn with probability softmax(-loss / tau)."""
        probs = torch.softmax(-losses / self.params.tau, dim=1)
        pick = torch.multinomial(probs, 1, generator=generator)
        return candidates.gather(1, pick).squeeze(1)

    def select(self, users, positives, step, scorer=None):
        if step.epoch < self.params.start_epoch or self.params.k == 1:
            return positives
        if scorer is None:
            raise ValueError("pld scores candidate positives with the model: pass a scorer")
        candidates = self.draw_candidates(users, positives, step.generator)
        return self.resample(candidates, self.candidate_losses(users, candidates, step, scorer), step.generator)

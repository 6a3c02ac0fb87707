"""In-batch negatives: the other rows' positives of the same batch.

``shared: true`` uses the whole batch's positives as one [1, B] negative set
(one B x B score matrix, the usual two-tower setup; ``num_negatives`` must
stay unset, since the batch size decides it); the
row's own positive, and with ``exclude_positives`` any of the user's training
positives, get weight 0, so a weighted loss never counts them. ``shared:
false`` draws ``num_negatives`` of the other rows' positives per row, re-drawing those
equal to the row's positive (or, with exclusion, any training positive of the
user); rows whose batch offers nothing allowed fall back to uniform-with-exclusion.

Batch positives are drawn in proportion to popularity, so ``log_q`` is either
the in-batch frequency (``log_q: batch``) or the training popularity
(``log_q: popularity``, Yi et al. RecSys 2019's correction).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from .base import SAMPLERS, Negatives, NegativeSampler, SamplerParams
from .uniform import UniformParams, UniformSampler


class InBatchParams(SamplerParams):
    # Redeclared (so it never carries over from another sampler): the batch decides it when shared.
    num_negatives: int | None = Field(None, ge=1, description="per row when shared: false (default 1); "
                                                             "unset when shared")
    shared: bool = True
    exclude_positives: bool = False
    log_q: Literal["popularity", "batch", "none"] = "popularity"
    rejection_rounds: int = Field(8, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _per_row_default(cls, data):
        if isinstance(data, dict) and data.get("shared") is False and data.get("num_negatives") is None:
            data = {**data, "num_negatives": 1}
        return data

    @model_validator(mode="after")
    def _count_matches_mode(self):
        if self.shared and self.num_negatives is not None:
            raise ValueError("num_negatives: shared in-batch negatives are the whole batch's positives "
                             "(batch_size - 1 per row); leave it unset, or set shared: false")
        return self


@SAMPLERS.register("in_batch")
class InBatchSampler(NegativeSampler):
    Params = InBatchParams

    def __init__(self, data, params: InBatchParams, device="cpu"):
        super().__init__(data, params, device)
        pop = data.item_popularity
        self.log_pop = torch.from_numpy(np.log(np.maximum(pop, 1e-12) / max(pop.sum(), 1.0))).float().to(self.device)
        self.fallback = UniformSampler(data, UniformParams(exclude_positives=params.exclude_positives),
                                       self.device)
        self.positive_set = self.fallback.exclusion.positives if params.exclude_positives else None

    @property
    def random_draws(self) -> bool:
        return not self.params.shared

    def forbidden(self, users: torch.Tensor, positives: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, K] True where items[b, k] may not be a negative of row b."""
        bad = items == positives.unsqueeze(1)
        if self.positive_set is not None:
            bad |= self.positive_set.contains_rows(users, items.expand(users.shape[0], -1))
        return bad

    def log_q(self, positives: torch.Tensor, items: torch.Tensor) -> torch.Tensor | None:
        if self.params.log_q == "none":
            return None
        if self.params.log_q == "popularity":
            return self.log_pop[items]
        counts = torch.bincount(positives, minlength=self.data.n_items).float()
        return torch.log(counts[items] / positives.numel())

    def sample(self, users, positives, num, step, scorer=None):
        gen = step.generator
        if positives is None:
            raise ValueError("the in_batch sampler needs the batch positives")
        if self.params.shared:
            items = positives.unsqueeze(0)
            weight = (~self.forbidden(users, positives, items)).float()
            return Negatives(items, log_q=self.log_q(positives, items), weight=weight)
        b = users.shape[0]
        idx = torch.randint(b, (b, num), generator=gen, device=users.device)
        items = positives[idx]
        bad = self.forbidden(users, positives, items)
        for _ in range(self.params.rejection_rounds):
            if not bool(bad.any()):
                break
            redraw = positives[torch.randint(b, (int(bad.sum()),), generator=gen, device=users.device)]
            items[bad] = redraw
            bad = self.forbidden(users, positives, items)  # only redrawn entries can change
        if bool(bad.any()):  # nothing allowed in this batch for these rows: exact uniform fallback
            rows = bad.any(1).nonzero().squeeze(1)
            uni = self.fallback.sample(users[rows], None, num, step).items
            items[rows] = torch.where(bad[rows], uni, items[rows])
        return Negatives(items, log_q=self.log_q(positives, items))

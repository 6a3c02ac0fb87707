"""Cross-batch memory (Wang et al., "Cross-Batch Memory for Embedding Learning", CVPR 2020;
the queue of MoCo, He et al. CVPR 2020): recent batches' item vectors as extra negatives.

Every row is scored against one shared set [1, B + Q]: this batch's positives (with
gradient: the in-batch negatives) followed by a FIFO memory of the positives of earlier
batches, stored as their vectors at the step they were seen (detached: the memory is
not trained through, only the current user vectors are pushed from it). After scoring,
the batch's positive vectors are enqueued; the oldest leave when ``memory`` entries are
exceeded, and entries older than ``max_age`` steps are dropped whatever the size (the
model has moved on since; stale vectors are easy negatives or wrong ones). The memory
is used from global step ``start_step`` on (XBM's warm-up: early in training the
embeddings drift too fast for stored vectors to be meaningful).

``log_q``: the memory holds batch positives, i.e. items drawn in proportion to their
training popularity, so ``popularity`` gives log(count_i / n_train) (the correction of
Yi et al. RecSys 2019, as ``in_batch`` does), ``memory`` the item's frequency in this
shared set, ``none`` nothing. Use with ``softmax`` (log-q applied) or ``ccl``.

Exclusion: the set is shared by the batch, so per-user exclusion is by weight 0, as the
shared ``in_batch`` sampler does: an entry equal to the row's own positive always gets
weight 0, and with ``exclude_positives`` any training positive of the row's user does
too (an exact [B, B + Q] lookup every step). No negative id is ever removed, so
``excludes_positives`` is False. ``items`` names every entry's item, so train.l2 also
regularises the memory's items (their current embeddings): lower it for large memories.

Where this differs from the official code (msight-tech/research-xbm, ``XBM`` and its
trainer): there the memory holds metric-learning embeddings with their labels, is
filled after ``START_ITERATION`` iterations, has no age limit, and feeds a second loss
term (batch against memory) added with a weight; here the memory's entries join the
batch's in one softmax / CCL over B + Q negatives, with an age limit. MoCo enqueues
momentum-encoder keys; here the entries are the same model's item vectors at an
earlier step (no momentum encoder).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from .base import SAMPLERS, Negatives, NegativeSampler, SamplerParams, require_representations
from .exclusion import build_positive_set


class XBMParams(SamplerParams):
    # The batch and the memory decide the count; redeclared so it never carries over.
    num_negatives: int | None = Field(None, ge=1, description="leave unset: batch size + memory entries")
    memory: int = Field(8192, ge=1, description="entries kept (batch positives of earlier steps)")
    max_age: int | None = Field(20, ge=1, description="drop entries older than this many steps")
    start_step: int = Field(0, ge=0, description="use the memory from this global step on")
    exclude_positives: bool = False
    log_q: Literal["popularity", "memory", "none"] = "popularity"

    @model_validator(mode="after")
    def _no_count(self):
        if self.num_negatives is not None:
            raise ValueError("num_negatives: the cross-batch memory's negatives are the batch plus the "
                             "memory; leave it unset and size the memory with `memory`")
        return self


@SAMPLERS.register("xbm")
class CrossBatchMemory(NegativeSampler):
    Params = XBMParams

    def __init__(self, data, params: XBMParams, device="cpu"):
        super().__init__(data, params, device)
        pop = data.item_popularity
        self.log_pop = torch.from_numpy(np.log(np.maximum(pop, 1e-12) / max(pop.sum(), 1.0))).float().to(self.device)
        self.positive_set = build_positive_set(data.train, self.device) if params.exclude_positives else None
        self.vectors: torch.Tensor | None = None  # [memory, d]
        self.items = torch.zeros(params.memory, dtype=torch.long, device=self.device)
        self.added = torch.full((params.memory,), -1, dtype=torch.long, device=self.device)  # step; -1 = empty
        self.head = 0
        self._sizes: list[int] = []

    @property
    def excludes_positives(self) -> bool:
        return False  # shared set: exclusion is by weight 0

    @property
    def random_draws(self) -> bool:
        return False

    def live(self, now: int) -> torch.Tensor:
        """Indices of the memory entries in use at step ``now`` (oldest first)."""
        order = (torch.arange(self.params.memory, device=self.added.device) + self.head) % self.params.memory
        ok = self.added[order] >= 0
        if self.params.max_age is not None:
            ok &= now - self.added[order] <= self.params.max_age
        return order[ok]

    def enqueue(self, items: torch.Tensor, vectors: torch.Tensor, now: int) -> None:
        cap = self.params.memory
        if self.vectors is None:
            self.vectors = torch.zeros((cap, vectors.shape[-1]), dtype=vectors.dtype, device=vectors.device)
            self.items, self.added = self.items.to(vectors.device), self.added.to(vectors.device)
        items, vectors = items[-cap:], vectors[-cap:]
        slots = (self.head + torch.arange(items.shape[0], device=items.device)) % cap
        self.vectors[slots], self.items[slots], self.added[slots] = vectors, items, now
        self.head = (self.head + items.shape[0]) % cap

    def log_q(self, items: torch.Tensor) -> torch.Tensor | None:
        if self.params.log_q == "none":
            return None
        if self.params.log_q == "popularity":
            return self.log_pop.to(items.device)[items]
        counts = torch.bincount(items.view(-1), minlength=self.data.n_items).float()
        return torch.log(counts[items] / items.numel())

    def sample(self, users, positives, num, step, scorer=None):
        rep = require_representations(scorer, "xbm")
        if positives is None:
            raise ValueError("the xbm sampler needs the batch positives")
        current = rep.item_vectors(positives)
        items, vectors = positives, current
        if self.vectors is not None and step.step >= self.params.start_step:
            idx = self.live(step.step)
            items = torch.cat([positives, self.items[idx]])
            vectors = torch.cat([current, self.vectors[idx].to(current.dtype)])
        items = items.unsqueeze(0)
        bad = items == positives.unsqueeze(1)
        if self.positive_set is not None:
            bad |= self.positive_set.contains_rows(users, items.expand(users.shape[0], -1))
        self._sizes.append(items.shape[1] - positives.shape[0])
        self.enqueue(positives, current.detach(), step.step)
        return Negatives(items, log_q=self.log_q(items), weight=(~bad).float(), vectors=vectors.unsqueeze(0))

    def epoch_start(self, step):
        self._sizes = []

    def diagnostics(self) -> dict[str, float]:
        return {"xbm_memory_used": float(np.mean(self._sizes)) if self._sizes else 0.0}

    def state_dict(self) -> dict:
        if self.vectors is None:
            return {}
        # copies: the buffers are written in place every step (.cpu() of a CPU tensor is no copy)
        return {"vectors": self.vectors.cpu().clone(), "items": self.items.cpu().clone(),
                "added": self.added.cpu().clone(), "head": self.head}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.vectors, self.items = state["vectors"].to(self.device).clone(), state["items"].to(self.device).clone()
            self.added, self.head = state["added"].to(self.device).clone(), int(state["head"])

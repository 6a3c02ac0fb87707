"""Model-refreshed ANN hard negatives (ANCE, Xiong et al. ICLR 2021; STAR, Zhan et al. SIGIR 2021).

Every ``refresh_every_epochs`` epochs and/or ``refresh_every_steps`` steps, the model's
own item vectors are indexed with faiss (exact ``IndexFlatIP`` by default; ``ivf`` or
``hnsw`` approximate indexes as options) and every user's top-``top_k`` items outside
its training positives are kept (exact exclusion: the search asks for top_k + the
chunk's longest history, then drops positives against the exact positive set). Between
refreshes, each negative is drawn uniformly from the user's list; a ``uniform_fraction``
of them are uniform items instead (STAR's mix of static hard and random negatives,
which keeps the list's blind spots and false negatives from dominating).

Cosine models are indexed on normalised vectors (inner product = cosine). faiss runs on
CPU with torch's thread count; the lists live on the training device.
``diagnostics()`` reports per epoch: refreshes, their seconds, and staleness (steps
since the last refresh, mean and max over the epoch's batches). The lists are
resumable state.

Where this differs from ANCE/STAR's official code (microsoft/ANCE, jingtaozhan/DRhard):
there the index is refreshed asynchronously by a separate process while training goes
on with the previous one, and negatives come from the top 200 of passage retrieval; here
a refresh runs inline (its cost is in the epoch's time, and reported) and the "queries"
are users. ADORE's live query encoder (re-query a fixed index every step) is not
implemented: a refresh re-queries all users.
"""
from __future__ import annotations

import time
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from ..models.similarity import for_ranking
from .base import SAMPLERS, Negatives, NegativeSampler, SamplerParams
from .exclusion import build_positive_set
from .uniform import UniformParams, UniformSampler


class ANNParams(SamplerParams):
    top_k: int = Field(100, ge=1, description="hard list length per user")
    refresh_every_epochs: int | None = Field(1, ge=1, description="epochs between index refreshes")
    refresh_every_steps: int | None = Field(None, ge=1, description="steps between index refreshes")
    index: Literal["flat", "ivf", "hnsw"] = "flat"
    nlist: int | None = Field(None, ge=1, description="ivf: inverted lists (default 4 sqrt(n_items))")
    nprobe: int = Field(16, ge=1, description="ivf: lists visited per query")
    hnsw_m: int = Field(32, ge=4, description="hnsw: links per node")
    ef_search: int = Field(128, ge=1, description="hnsw: search breadth")
    uniform_fraction: float = Field(0.0, ge=0, le=1, description="share of uniform negatives mixed in")
    batch_users: int = Field(4096, ge=1, description="users searched at once when refreshing")

    @model_validator(mode="after")
    def _hnsw_breadth(self):
        if self.index == "hnsw" and self.ef_search < self.top_k:
            raise ValueError(f"ef_search ({self.ef_search}) must be at least top_k ({self.top_k})")
        return self


def faiss_module():
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ImportError("the ann sampler needs faiss: pip install faiss-cpu") from err
    return faiss


def model_vectors(model, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(item vectors [n_items, d], user vectors [n_users, d]), float32 on CPU, ready for inner product."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            enc = model.encode()
            dev = enc.items.device
            items = model.item_vectors(enc, torch.arange(model.n_items, device=dev))
            items = for_ranking(items, model.similarity).float().cpu().numpy()
            users = np.concatenate([
                for_ranking(model.user_vectors(enc, torch.arange(lo, min(lo + batch, model.n_users), device=dev)),
                            model.similarity).float().cpu().numpy() for lo in range(0, model.n_users, batch)])
    finally:
        model.train(was)
    return np.ascontiguousarray(items), users


def build_index(items: np.ndarray, p: ANNParams):
    faiss = faiss_module()
    n, d = items.shape
    if p.index == "flat":
        index = faiss.IndexFlatIP(d)
    elif p.index == "ivf":
        # 4 sqrt(n) lists, fewer on a small catalogue (faiss wants >= 39 training points a list)
        nlist = min(p.nlist or max(1, min(int(4 * np.sqrt(n)), n // 39)), n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(items)
        index.nprobe = min(p.nprobe, nlist)
    else:
        index = faiss.IndexHNSWFlat(d, p.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = p.ef_search
    index.add(items)
    return index


def unseen_top(found: torch.Tensor, users: torch.Tensor, positives, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First k ids per row of ``found`` [U, k'] (best first, -1 = none) that are not the user's
    training positives -> (lists [U, k] padded with 0, lengths [U])."""
    valid = found >= 0
    valid &= ~positives.contains_rows(users, found.clamp_min(0))
    rank = valid.long().cumsum(1) - 1
    keep = valid & (rank < k)
    out = torch.zeros((found.shape[0], k), dtype=torch.long)
    rows = torch.arange(found.shape[0]).unsqueeze(1).expand_as(found)
    out[rows[keep], rank[keep]] = found[keep]
    return out, keep.sum(1)


@SAMPLERS.register("ann")
class ANNSampler(NegativeSampler):
    Params = ANNParams

    def __init__(self, data, params: ANNParams, device="cpu", model=None):
        super().__init__(data, params, device)
        self.model = model
        self.k = min(params.top_k, data.n_items)
        self.degree = torch.from_numpy(np.diff(data.train.indptr).astype(np.int64))
        self.positives = build_positive_set(data.train, "cpu")
        self.uniform = UniformSampler(data, UniformParams(), self.device)
        self.hard: torch.Tensor | None = None
        self.lengths: torch.Tensor | None = None
        self.built_epoch = self.built_step = 0
        self._reset_diagnostics()

    @property
    def excludes_positives(self) -> bool:
        return True  # lists hold unseen items only; the uniform share and fallback exclude too

    def _reset_diagnostics(self) -> None:
        self._refreshes, self._refresh_s, self._stale = 0, 0.0, []

    def refresh(self, step) -> None:
        if self.model is None:
            raise ValueError("the ann sampler indexes the model's own vectors: build it with model=")
        t0 = time.perf_counter()
        faiss = faiss_module()
        faiss.omp_set_num_threads(torch.get_num_threads())
        items, user_vecs = model_vectors(self.model, self.params.batch_users)
        index = build_index(items, self.params)
        # Users in order of history length: a chunk searches top_k + its longest history, so
        # short-history chunks (most of them) ask for far fewer results.
        order = torch.argsort(self.degree, stable=True)
        hard = torch.zeros((self.data.n_users, self.k), dtype=torch.long)
        lengths = torch.zeros(self.data.n_users, dtype=torch.long)
        for lo in range(0, len(order), self.params.batch_users):
            users = order[lo: lo + self.params.batch_users]
            want = min(self.data.n_items, self.k + int(self.degree[users].max()))
            _, found = index.search(np.ascontiguousarray(user_vecs[users.numpy()]), want)
            hard[users], lengths[users] = unseen_top(torch.from_numpy(found).long(), users, self.positives, self.k)
        self.hard, self.lengths = hard.to(self.device), lengths.to(self.device)
        self.built_epoch, self.built_step = step.epoch, step.step
        self._refreshes += 1
        self._refresh_s += time.perf_counter() - t0

    def epoch_start(self, step):
        self._reset_diagnostics()
        every = self.params.refresh_every_epochs
        if self.hard is None or (every is not None and step.epoch - self.built_epoch >= every):
            self.refresh(step)

    def diagnostics(self) -> dict[str, float]:
        stale = self._stale
        return {"ann_refreshes": float(self._refreshes), "ann_refresh_s": self._refresh_s,
                "ann_staleness_mean": float(np.mean(stale)) if stale else 0.0,
                "ann_staleness_max": float(max(stale)) if stale else 0.0}

    def state_dict(self) -> dict:
        if self.hard is None:
            return {}
        return {"hard": self.hard.cpu(), "lengths": self.lengths.cpu(), "built_epoch": self.built_epoch,
                "built_step": self.built_step}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.hard, self.lengths = state["hard"].to(self.device), state["lengths"].to(self.device)
            self.built_epoch, self.built_step = int(state["built_epoch"]), int(state["built_step"])

    def sample(self, users, positives, num, step, scorer=None):
        every = self.params.refresh_every_steps
        if self.hard is None or (every is not None and step.step - self.built_step >= every):
            self.refresh(step)
        self._stale.append(step.step - self.built_step)
        gen, dev = step.generator, users.device
        n = self.lengths[users].unsqueeze(1)
        col = (torch.rand((users.shape[0], num), generator=gen, device=dev) * n).long()
        items = self.hard[users.unsqueeze(1), torch.minimum(col, (n - 1).clamp_min(0))]
        coin = torch.rand(items.shape, generator=gen, device=dev) < self.params.uniform_fraction
        coin |= n == 0  # an approximate index found nothing unseen for this user: uniform instead
        if bool(coin.any()):
            uni = self.uniform.sample(users, positives, num, step).items
            items = torch.where(coin, uni, items)
        return Negatives(items)

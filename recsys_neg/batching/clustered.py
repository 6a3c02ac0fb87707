"""Negative-mining-aware batches (NGAME, Dahiya et al. WSDM 2023): batches of similar users.

With in-batch negatives, a batch of random pairs gives each row random, mostly easy
negatives. NGAME clusters the training queries on the model's current embeddings and
builds batches from whole clusters, so the other rows' positives, the in-batch
negatives, are items similar users chose: hard ones, found at no extra scoring cost.

Here the "queries" are users: every ``refresh_every`` epochs the users' current vectors
(l2-normalised: a user's ranking depends on its direction only) are clustered by
spherical k-means (``iterations`` Lloyd steps, k-means++ seeding, all draws from the
step's generator) into clusters of about ``users_per_cluster`` users. An epoch's order
puts the clusters in random order and each cluster's pairs (all pairs of its users) in
random order, so consecutive batches are cut from few clusters. Clustering users, not
the positives' items, because (1) a user is the query of CF, as NGAME clusters queries;
(2) pairs grouped by positive item would fill a batch with copies of the same popular
item, which the in-batch sampler must then drop (weight 0) as the row's own positive.
The first ``warmup_epochs`` epochs are a plain shuffle (embeddings are still random; NGAME
also starts from random batches). Pair it with ``sampler: in_batch`` (or ``xbm``).

``diagnostics()`` reports the k-means seconds of the epoch (0 when not refreshed) and
the clusters' mean size; the k-means runs at the epoch's start, inside the epoch's
training time (NGAME's code also counts its shortlist time as training time). The
assignment is resumable state. Where this differs from NGAME's official code
(Extreme-classification/ngame, ``_fit`` / ``update_shortlist``): there training
points are clustered into fixed-size clusters, after a warm-up and at a refresh
interval as here, optionally on a memory bank of the embeddings seen during the last
epoch instead of re-encoding; here plain spherical k-means on freshly computed user
vectors, clusters not balanced.
"""
from __future__ import annotations

import math
import time

import torch
from pydantic import Field

from ..models.similarity import for_ranking
from ..registry import Params
from .base import BATCHING, BatchOrder


class ClusteredParams(Params):
    users_per_cluster: int = Field(32, ge=1, description="target cluster size (k = n_users / this)")
    refresh_every: int = Field(1, ge=1, description="epochs between re-clusterings")
    iterations: int = Field(10, ge=1, description="Lloyd iterations per clustering")
    warmup_epochs: int = Field(1, ge=0, description="plain shuffles before the first clustering")
    batch_users: int = Field(8192, ge=1, description="users per chunk of distance computations")


def kmeans_pp(x: torch.Tensor, k: int, generator) -> torch.Tensor:
    """k-means++ seeds for rows of x (unit vectors: squared distance = 2 - 2 cos)."""
    n = x.shape[0]
    first = torch.randint(n, (1,), generator=generator, device=x.device)
    centers = [x[first]]
    d2 = (2 - 2 * (x @ centers[0].T).squeeze(1)).clamp_min(0)
    for _ in range(1, k):
        probs = d2 if float(d2.sum()) > 0 else torch.ones_like(d2)
        nxt = torch.multinomial(probs, 1, generator=generator)
        centers.append(x[nxt])
        d2 = torch.minimum(d2, (2 - 2 * (x @ x[nxt].T).squeeze(1)).clamp_min(0))
    return torch.cat(centers)


def spherical_kmeans(x: torch.Tensor, k: int, iterations: int, generator, chunk: int) -> torch.Tensor:
    """Cluster id per row of x (unit vectors), by cosine to unit-norm centroids."""
    centers = kmeans_pp(x, k, generator)
    assign = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for it in range(iterations + 1):
        for lo in range(0, x.shape[0], chunk):
            assign[lo: lo + chunk] = (x[lo: lo + chunk] @ centers.T).argmax(1)
        if it == iterations:
            break
        sums = torch.zeros_like(centers).index_add_(0, assign, x)
        empty = sums.norm(dim=1) == 0  # keep an empty cluster's centre where it was
        centers = torch.where(empty.unsqueeze(1), centers, torch.nn.functional.normalize(sums, dim=1))
    return assign


@BATCHING.register("clustered")
class ClusteredBatches(BatchOrder):
    Params = ClusteredParams

    def __init__(self, data, params: ClusteredParams, device="cpu", model=None):
        super().__init__(data, params, device)
        self.model = model
        self.pair_users = data.train_pairs[0].to(self.device)
        self.clusters: torch.Tensor | None = None  # [n_users] cluster id
        self.built_epoch = 0
        self._seconds = 0.0

    def cluster(self, step) -> None:
        if self.model is None:
            raise ValueError("clustered batches cluster the model's user vectors: build them with model=")
        t0 = time.perf_counter()
        model, p = self.model, self.params
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                enc = model.encode()
                dev = enc.items.device
                users = torch.cat([for_ranking(model.user_vectors(enc, torch.arange(
                    lo, min(lo + p.batch_users, model.n_users), device=dev)), "cosine")
                    for lo in range(0, model.n_users, p.batch_users)]).float()
        finally:
            model.train(was)
        k = max(1, min(users.shape[0], math.ceil(users.shape[0] / p.users_per_cluster)))
        gen = step.generator
        self.clusters = spherical_kmeans(users.to(gen.device), k, p.iterations, gen, p.batch_users).to(self.device)
        self.built_epoch = step.epoch
        self._seconds += time.perf_counter() - t0

    def order(self, n, step):
        self._seconds = 0.0
        gen = step.generator
        if n != self.pair_users.shape[0]:
            raise ValueError(f"clustered batches order the {self.pair_users.shape[0]} training pairs, asked for {n}")
        if step.epoch <= self.params.warmup_epochs:
            return torch.randperm(n, generator=gen, device=gen.device).to(self.device)
        if self.clusters is None or step.epoch - self.built_epoch >= self.params.refresh_every:
            self.cluster(step)
        k = int(self.clusters.max()) + 1
        rank = torch.randperm(k, generator=gen, device=gen.device).to(self.device)  # clusters in random order
        shuffled = torch.randperm(n, generator=gen, device=gen.device).to(self.device)  # pairs within a cluster
        key = rank[self.clusters[self.pair_users[shuffled]]]
        return shuffled[torch.sort(key, stable=True).indices]

    def diagnostics(self) -> dict[str, float]:
        if self.clusters is None:
            return {"clustered_kmeans_s": self._seconds}
        sizes = torch.bincount(self.clusters)
        return {"clustered_kmeans_s": self._seconds, "clustered_users_per_cluster": float(sizes[sizes > 0].float().mean())}

    def state_dict(self) -> dict:
        return {} if self.clusters is None else {"clusters": self.clusters.cpu(), "built_epoch": self.built_epoch}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.clusters, self.built_epoch = state["clusters"].to(self.device), int(state["built_epoch"])

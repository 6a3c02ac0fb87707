"""SimpleX (Mao et al., CIKM 2021): MF whose user vector also aggregates the user's history.

user = g * user_embedding + (1 - g) * W_v(aggregate(history item embeddings)), then
dropout; item = item embedding; score = cosine (default) or dot. The history is the
TRAINING matrix only, padded once at construction into an [n_users, max_history]
index tensor (longer histories keep a seeded random subset), so a step is a gather
plus batched matmuls with no Python loop over users.

Aggregators follow the official code: ``mean`` (masked mean), ``user_attention``
(keys tanh(W_k h) scored against the user's own embedding) and ``self_attention``
(keys scored against a learned query vector).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from .base import MODELS, Encoded, Model, Ranker
from .mf import EmbeddingParams
from .similarity import for_ranking


class SimpleXParams(EmbeddingParams):
    similarity: str = Field("cosine", pattern="^(dot|cosine)$")
    # Item embeddings also enter every user's history aggregate: dense Adam is simpler
    # and, with small batches, as fast as sparse updates.
    sparse: bool = False
    init_std: float = Field(1e-4, gt=0)
    aggregator: Literal["mean", "user_attention", "self_attention"] = "user_attention"
    gamma: float = Field(0.8, ge=0, le=1, description="weight of the user's own embedding")
    max_history: int = Field(500, ge=1, description="history items kept per user (seeded subset)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the user vector")
    attention_dropout: float = Field(0.0, ge=0, lt=1)
    history_seed: int = 0
    # Users per chunk when all user vectors are built for evaluation.
    eval_chunk: int = Field(1024, ge=1)


def padded_history(train, max_history: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([n_users, L] item ids padded with 0, [n_users] lengths) from a CSR matrix, vectorised."""
    indptr = train.indptr.astype(np.int64)
    counts = np.diff(indptr)
    n_users = len(counts)
    rng = np.random.default_rng(seed)
    # A random key per entry sorted within its row picks a uniform subset of long rows.
    order = np.lexsort((rng.random(len(train.indices)), np.repeat(np.arange(n_users), counts)))
    items = train.indices[order].astype(np.int64)
    lengths = np.minimum(counts, max_history)
    width = max(int(lengths.max()) if n_users else 0, 1)
    pos = np.arange(len(items)) - np.repeat(indptr[:-1], counts)  # rank within the row
    keep = pos < max_history
    hist = np.zeros((n_users, width), dtype=np.int64)
    hist[np.repeat(np.arange(n_users), counts)[keep], pos[keep]] = items[keep]
    return torch.from_numpy(hist), torch.from_numpy(lengths.astype(np.int64))


class BehaviorAggregator(nn.Module):
    def __init__(self, dim: int, kind: str, gamma: float, attention_dropout: float):
        super().__init__()
        self.kind, self.gamma = kind, gamma
        self.W_v = nn.Linear(dim, dim, bias=False)
        if kind != "mean":
            self.W_k = nn.Sequential(nn.Linear(dim, dim), nn.Tanh())
            self.dropout = nn.Dropout(attention_dropout)
        if kind == "self_attention":
            self.W_q = nn.Parameter(torch.empty(dim, 1))
            nn.init.xavier_normal_(self.W_q)

    def forward(self, own: torch.Tensor, hist: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """own [B,d], hist [B,L,d], mask [B,L] (True = real item) -> [B,d]."""
        maskf = mask.to(hist.dtype)
        if self.kind == "mean":
            pooled = (hist * maskf.unsqueeze(-1)).sum(1) / maskf.sum(1, keepdim=True).clamp_min(1.0)
        else:
            key = self.W_k(hist)
            query = own.unsqueeze(-1) if self.kind == "user_attention" else self.W_q
            logits = torch.matmul(key, query).squeeze(-1)
            # -inf would give NaN for a user without history; masked weights become 0 instead.
            attn = torch.softmax(logits.masked_fill(~mask, -1e9), dim=-1) * maskf
            attn = self.dropout(attn)
            pooled = torch.bmm(attn.unsqueeze(1), hist).squeeze(1)
        return self.gamma * own + (1 - self.gamma) * self.W_v(pooled)


@MODELS.register("simplex")
class SimpleX(Model):
    Params = SimpleXParams

    def __init__(self, data, params: SimpleXParams):
        super().__init__(data, params)
        self.similarity = params.similarity
        dim = params.embedding_dim
        self.user_emb = nn.Embedding(self.n_users, dim, sparse=params.sparse)
        self.item_emb = nn.Embedding(self.n_items, dim, sparse=params.sparse)
        nn.init.normal_(self.user_emb.weight, std=params.init_std)
        nn.init.normal_(self.item_emb.weight, std=params.init_std)
        self.aggregator = BehaviorAggregator(dim, params.aggregator, params.gamma, params.attention_dropout)
        self.dropout = nn.Dropout(params.dropout)
        hist, lengths = padded_history(data.train, params.max_history, params.history_seed)
        # Derived from the data, so not saved in checkpoints.
        self.register_buffer("history", hist, persistent=False)
        self.register_buffer("history_len", lengths, persistent=False)

    def encode(self) -> Encoded:
        return Encoded(users=None, items=self.item_emb.weight)

    def _tower(self, users: torch.Tensor) -> torch.Tensor:
        lengths = self.history_len[users]
        width = max(int(lengths.max()), 1) if users.numel() else 1  # trim padding to this batch
        idx = self.history[users, :width]
        mask = torch.arange(width, device=idx.device) < lengths.unsqueeze(1)
        return self.aggregator(self.user_emb(users), self.item_emb(idx), mask)

    def user_vectors(self, enc, users):
        return self.dropout(self._tower(users))

    def item_vectors(self, enc, items):
        return self.item_emb(items)

    def regularization(self, users, items):
        # Large negative ratios repeat items heavily: penalise each distinct row once.
        items = torch.unique(items)
        return 0.5 * (self.user_emb(users).pow(2).sum() + self.item_emb(items).pow(2).sum()) / users.shape[0]

    # Ranking: every user vector once (chunked), then one matmul per batch of users.
    def _ranker(self) -> Ranker:
        users = torch.arange(self.n_users, device=self.item_emb.weight.device)
        u = torch.cat([self._tower(users[lo: lo + self.params.eval_chunk])
                       for lo in range(0, self.n_users, self.params.eval_chunk)])
        u, v = for_ranking(u, self.similarity), for_ranking(self.item_emb.weight, self.similarity)
        return Ranker(lambda batch: u[batch] @ v.T, v.device)

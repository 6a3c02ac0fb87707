"""ANN negatives from the model's own index, the cross-batch memory, and clustered batch order."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys_neg.batching import build_batching
from recsys_neg.config import config_from_dict
from recsys_neg.models import build_model
from recsys_neg.pipeline import run_pipeline
from recsys_neg.samplers import build_sampler
from recsys_neg.step import Step

from helpers import make_step, random_interactions, scorer_for

DATA = random_interactions(40, 60, density=0.15, seed=7, with_splits=False)
TRAIN = torch.from_numpy(DATA.train.toarray() > 0)


@pytest.fixture()
def mf():
    torch.manual_seed(0)
    return build_model({"name": "mf", "embedding_dim": 8, "sparse": False}, DATA)


def exact_unseen_top(model, k):
    with model.ranking() as rank:
        scores = rank(torch.arange(DATA.n_users)).masked_fill(TRAIN, -torch.inf)
    return scores.topk(k, dim=1).indices


# ---- ann ----------------------------------------------------------------------
def test_ann_flat_lists_are_the_exact_unseen_top_k(mf):
    s = build_sampler({"name": "ann", "top_k": 10}, DATA, model=mf)
    s.epoch_start(make_step(0))
    want = exact_unseen_top(mf, 10)
    assert torch.equal(s.hard, want) and (s.lengths == 10).all()


def test_ann_cosine_model_is_indexed_by_cosine():
    torch.manual_seed(0)
    cos = build_model({"name": "mf", "embedding_dim": 8, "sparse": False, "similarity": "cosine"}, DATA)
    s = build_sampler({"name": "ann", "top_k": 5}, DATA, model=cos)
    s.epoch_start(make_step(0))
    assert torch.equal(s.hard, exact_unseen_top(cos, 5))


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_ann_approximate_indexes_exclude_exactly_and_mostly_agree(index, mf):
    s = build_sampler({"name": "ann", "top_k": 10, "index": index, "nprobe": 64, "ef_search": 64}, DATA, model=mf)
    s.epoch_start(make_step(0))
    assert not TRAIN[torch.arange(DATA.n_users).unsqueeze(1), s.hard].any()
    want = exact_unseen_top(mf, 10)
    overlap = np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(s.hard, want)])
    assert overlap > 0.9


def test_ann_draws_uniformly_from_the_list_and_mixes_uniform(mf):
    s = build_sampler({"name": "ann", "top_k": 4, "num_negatives": 1}, DATA, model=mf)
    s.epoch_start(make_step(0))
    users = torch.full((20000,), 3)
    items = s.sample(users, None, 1, make_step(1)).items.squeeze(1)
    counts = torch.stack([(items == i).sum() for i in s.hard[3]]).float()
    assert counts.sum() == 20000 and (counts / 20000 - 0.25).abs().max() < 0.02
    s = build_sampler({"name": "ann", "top_k": 4, "uniform_fraction": 0.5}, DATA, model=mf)
    s.epoch_start(make_step(0))
    items = s.sample(users, None, 1, make_step(1)).items.squeeze(1)
    in_list = torch.isin(items, s.hard[3]).float().mean().item()
    # half from the list, half uniform over the user's unseen items (4 of which are on the list)
    unseen = int((~TRAIN[3]).sum())
    assert in_list == pytest.approx(0.5 + 0.5 * 4 / unseen, abs=0.02)
    assert not TRAIN[3, items].any()


def test_ann_refreshes_on_schedule_and_reports_cost_and_staleness(mf):
    s = build_sampler({"name": "ann", "top_k": 5, "refresh_every_epochs": 2, "refresh_every_steps": 3}, DATA,
                      model=mf)
    users, pos = DATA.train_pairs[0][:8], DATA.train_pairs[1][:8]
    s.epoch_start(Step(1, 0, torch.Generator()))
    stale = []
    for t in range(1, 8):
        s.sample(users, pos, 1, Step(1, t, torch.Generator()))
        stale.append(s._stale[-1])
    assert stale == [1, 2, 0, 1, 2, 0, 1]  # built at step 0, then every 3 steps
    d = s.diagnostics()
    assert d["ann_refreshes"] == 3 and d["ann_refresh_s"] > 0
    assert d["ann_staleness_max"] == 2 and d["ann_staleness_mean"] == pytest.approx(1.0)
    with torch.no_grad():
        mf.item_emb.weight.mul_(-1)  # the model changed: the next refresh must see it
    s.epoch_start(Step(2, 7, torch.Generator()))  # only 1 epoch since the build: no refresh
    assert s.diagnostics()["ann_refreshes"] == 0
    s.epoch_start(Step(3, 7, torch.Generator()))
    assert s.diagnostics()["ann_refreshes"] == 1 and torch.equal(s.hard, exact_unseen_top(mf, 5))


# ---- xbm ------------------------------------------------------------------------
def xbm_step(s, model, users, pos, t):
    return s.sample(users, pos, None, Step(1, t, torch.Generator()), scorer_for(model))


def test_xbm_is_the_batch_then_a_fifo_of_earlier_batches_within_age(mf):
    s = build_sampler({"name": "xbm", "memory": 10, "max_age": 2}, DATA)
    batches = [(DATA.train_pairs[0][i * 4:(i + 1) * 4], DATA.train_pairs[1][i * 4:(i + 1) * 4]) for i in range(6)]
    seen = []
    for t, (u, p) in enumerate(batches, start=1):
        neg = xbm_step(s, mf, u, p, t)
        # memory: the last batches that fit in 10 entries and are at most 2 steps old, oldest first
        kept = [q for step, q in seen if t - step <= 2]
        flat = torch.cat([p] + [q for q in kept]) if kept else p
        cap = torch.cat([q for step, q in seen])[-10:] if seen else torch.empty(0, dtype=torch.long)
        want = torch.cat([p, cap[-sum(len(q) for q in kept):]]) if kept else p
        assert torch.equal(neg.items[0], want), t
        assert flat.numel() == want.numel()
        seen.append((t, p))


def test_xbm_memory_vectors_are_detached_snapshots_and_batch_vectors_train(mf):
    s = build_sampler({"name": "xbm", "memory": 64}, DATA)
    u1, p1 = DATA.train_pairs[0][:8], DATA.train_pairs[1][:8]
    u2, p2 = DATA.train_pairs[0][8:16], DATA.train_pairs[1][8:16]
    xbm_step(s, mf, u1, p1, 1)
    snapshot = mf.item_emb(p1).detach().clone()
    with torch.no_grad():
        mf.item_emb.weight.add_(1.0)  # an optimiser step moved every item
    neg = xbm_step(s, mf, u2, p2, 2)
    assert torch.allclose(neg.vectors[0, 8:], snapshot) and torch.allclose(neg.vectors[0, :8], mf.item_emb(p2))
    neg.vectors.sum().backward()
    touched = (mf.item_emb.weight.grad.abs().sum(1) > 0).nonzero().squeeze(1)
    assert set(touched.tolist()) == set(p2.tolist())


@pytest.mark.parametrize("exclude", [False, True])
def test_xbm_excludes_by_zero_weight_exactly(exclude, mf):
    s = build_sampler({"name": "xbm", "memory": 200, "exclude_positives": exclude}, DATA)
    users, pos = DATA.train_pairs
    for t, lo in enumerate(range(0, 120, 40), start=1):
        neg = xbm_step(s, mf, users[lo:lo + 40], pos[lo:lo + 40], t)
    u, p = users[80:120], pos[80:120]
    items = neg.items.expand(40, -1)
    bad = items == p.unsqueeze(1)
    if exclude:
        bad |= TRAIN[u.unsqueeze(1), items]
    assert torch.equal(neg.weight, (~bad).float()) and bad.any() and (~bad).any()


def test_xbm_log_q_and_start_step(mf):
    pop = DATA.item_popularity
    s = build_sampler({"name": "xbm", "memory": 100}, DATA)
    u, p = DATA.train_pairs[0][:30], DATA.train_pairs[1][:30]
    xbm_step(s, mf, u, p, 1)
    neg = xbm_step(s, mf, u, p, 2)
    want = np.log(pop[neg.items[0].numpy()] / pop.sum())
    assert np.allclose(neg.log_q[0].numpy(), want, atol=1e-5)
    s = build_sampler({"name": "xbm", "memory": 100, "log_q": "memory", "start_step": 3}, DATA)
    xbm_step(s, mf, u, p, 1)
    assert xbm_step(s, mf, u, p, 2).items.shape[1] == 30  # before start_step: the batch only
    neg = xbm_step(s, mf, u, p, 3)
    items = neg.items[0]
    freq = torch.tensor([(items == i).float().mean() for i in items])
    assert neg.items.shape[1] == 90 and torch.allclose(neg.log_q[0], freq.log(), atol=1e-6)


# ---- clustered batches -----------------------------------------------------------
def blob_model(groups: int = 4, seed: int = 0):
    """MF whose users sit in `groups` tight directions (so k-means has a right answer)."""
    g = torch.Generator().manual_seed(seed)
    model = build_model({"name": "mf", "embedding_dim": 8, "sparse": False}, DATA)
    centres = torch.nn.functional.normalize(torch.randn(groups, 8, generator=g), dim=1) * 3
    truth = torch.arange(DATA.n_users) % groups
    with torch.no_grad():
        model.user_emb.weight.copy_(centres[truth] + 0.05 * torch.randn(DATA.n_users, 8, generator=g))
    return model, truth


def test_clustered_order_is_an_exact_permutation_in_cluster_blocks():
    model, truth = blob_model()
    order = build_batching({"name": "clustered", "users_per_cluster": 10, "warmup_epochs": 0}, DATA, model=model)
    n = DATA.n_train
    perm = order.order(n, make_step(4, epoch=1))
    assert torch.equal(torch.sort(perm).values, torch.arange(n))
    clusters = order.clusters
    # k-means recovered the four directions: one cluster per true group
    assert all(len(set(clusters[truth == t].tolist())) == 1 for t in range(4))
    blocks = clusters[DATA.train_pairs[0][perm]]
    assert int((blocks[1:] != blocks[:-1]).sum()) == len(set(clusters.tolist())) - 1  # contiguous clusters
    assert torch.equal(perm, build_batching({"name": "clustered", "users_per_cluster": 10, "warmup_epochs": 0},
                                            DATA, model=model).order(n, make_step(4, epoch=1)))


def test_clustered_batches_make_in_batch_negatives_harder():
    model, _ = blob_model()
    users, items = DATA.train_pairs

    def mean_negative_score(perm, bs=32):
        total, count = 0.0, 0
        with torch.no_grad():
            for lo in range(0, len(perm) - bs + 1, bs):
                idx = perm[lo: lo + bs]
                s = model.user_emb(users[idx]) @ model.item_emb(items[idx]).T
                u_sim = torch.nn.functional.normalize(model.user_emb(users[idx]), dim=1)
                total += float((u_sim @ u_sim.T).sum() - bs)  # similar users share a batch
                count += bs * (bs - 1)
        return total / count

    clustered = build_batching({"name": "clustered", "users_per_cluster": 10, "warmup_epochs": 0}, DATA, model=model)
    shuffled = build_batching({"name": "shuffle"}, DATA)
    a = mean_negative_score(clustered.order(DATA.n_train, make_step(1, epoch=1)))
    b = mean_negative_score(shuffled.order(DATA.n_train, make_step(1, epoch=1)))
    assert a > 0.8 and b < 0.5


def test_clustered_warmup_is_a_plain_shuffle_and_refresh_follows_the_epochs():
    model, _ = blob_model()
    order = build_batching({"name": "clustered", "warmup_epochs": 1, "refresh_every": 2}, DATA, model=model)
    n = DATA.n_train
    plain = build_batching({"name": "shuffle"}, DATA).order(n, make_step(3, epoch=1))
    assert torch.equal(order.order(n, make_step(3, epoch=1)), plain) and order.clusters is None
    order.order(n, make_step(3, epoch=2))
    first = order.clusters.clone()
    assert order.diagnostics()["clustered_kmeans_s"] > 0
    order.order(n, make_step(3, epoch=3))
    assert order.diagnostics()["clustered_kmeans_s"] == 0 and torch.equal(order.clusters, first)
    fresh = build_batching({"name": "clustered", "warmup_epochs": 1, "refresh_every": 2}, DATA, model=model)
    fresh.load_state_dict(order.state_dict())
    assert torch.equal(fresh.order(n, make_step(8, epoch=3)), order.order(n, make_step(8, epoch=3)))


# ---- the trainer logs what the parts report ----------------------------------------
def test_trainer_logs_sampler_and_batching_diagnostics(tmp_path):
    cfg = config_from_dict({
        "data": {"source": {"source": "synthetic", "n_users": 120, "n_items": 80, "seed": 1}},
        "model": {"name": "mf", "embedding_dim": 8}, "sampler": {"name": "ann", "top_k": 10},
        "batching": {"name": "clustered", "users_per_cluster": 8, "warmup_epochs": 1},
        "loss": {"name": "softmax", "temperature": {"mode": "learnable", "value": 0.5}},
        "train": {"epochs": 2, "batch_size": 128, "progress": False}, "eval": {"ks": [5, 20]},
        "tracking": {"enabled": False}, "output_dir": str(tmp_path / "runs")})
    res = run_pipeline(cfg)
    first, second = res.history
    assert first["ann_refreshes"] == 1 and second["ann_refreshes"] == 1 and second["ann_refresh_s"] > 0
    assert second["clustered_kmeans_s"] > 0 and first["clustered_kmeans_s"] == 0
    assert first["temperature"] != 0.5 and second["ann_staleness_max"] >= 1

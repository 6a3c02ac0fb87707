import numpy as np
import torch

from recsys_neg.models import build_model
from recsys_neg.models.propagation import normalized_adjacency, propagate, to_torch_csr

from helpers import random_interactions, scorer_for


def dense_reference(train, x, layers):
    a = torch.from_numpy(normalized_adjacency(train).toarray()).to(x.dtype)
    out, h = x, x
    for _ in range(layers):
        h = a @ h
        out = out + h
    return out / (layers + 1)


def test_normalized_adjacency_is_symmetric_and_scaled():
    data = random_interactions(20, 15)
    a = normalized_adjacency(data.train).toarray()
    assert np.allclose(a, a.T)
    r = data.train.toarray()
    du, di = r.sum(1), r.sum(0)
    u, i = np.nonzero(r)
    assert np.allclose(a[u, 20 + i], 1 / np.sqrt(du[u] * di[i]))


def test_symmetric_backward_matches_autograd():
    data = random_interactions(30, 25)
    adj = to_torch_csr(normalized_adjacency(data.train))
    x = torch.randn(55, 8, dtype=torch.float32)
    w = torch.randn(55, 8)
    x1 = x.clone().requires_grad_(True)
    (propagate(adj, x1, 3, symmetric=True) * w).sum().backward()
    x2 = x.clone().double().requires_grad_(True)
    (dense_reference(data.train, x2, 3) * w.double()).sum().backward()
    assert torch.allclose(propagate(adj, x, 3), dense_reference(data.train, x.double(), 3).float(), atol=1e-5)
    assert torch.allclose(x1.grad.double(), x2.grad, atol=1e-5)


def test_lightgcn_scores_use_propagated_embeddings():
    data = random_interactions(30, 25)
    model = build_model({"name": "lightgcn", "embedding_dim": 8, "num_layers": 2}, data)
    enc = model.encode()
    ref = dense_reference(data.train, model.embedding.detach().double(), 2).float()
    assert torch.allclose(enc.users.detach(), ref[:30], atol=1e-5)
    users = torch.tensor([0, 3, 7])
    with model.ranking() as rank:
        full = rank(users)
    assert full.shape == (3, 25)
    assert torch.allclose(full, ref[:30][users] @ ref[30:].T, atol=1e-5)
    items = torch.tensor([[1, 2], [3, 4], [5, 6]])
    assert torch.allclose(scorer_for(model)(users, items), full.gather(1, items), atol=1e-5)

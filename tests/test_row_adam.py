import pytest
import torch

from recsys_neg.training.row_adam import RowSparseAdam


def test_matches_torch_sparse_adam_step_for_step():
    torch.manual_seed(0)
    a = torch.nn.Embedding(50, 8, sparse=True)
    b = torch.nn.Embedding(50, 8, sparse=True)
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.SparseAdam(a.parameters(), lr=0.01)
    opt_b = RowSparseAdam(b.parameters(), lr=0.01)
    for step in range(20):
        idx = torch.randint(0, 50, (30,))  # duplicates included: gradients must be summed per row
        target = torch.randn(30, 8)
        for emb, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            ((emb(idx) - target) ** 2).sum().backward()
            opt.step()
        assert torch.allclose(a.weight, b.weight, atol=1e-6), step


def test_rows_outside_the_batch_do_not_move():
    emb = torch.nn.Embedding(10, 4, sparse=True)
    before = emb.weight.detach().clone()
    opt = RowSparseAdam(emb.parameters(), lr=0.1)
    emb(torch.tensor([2, 2, 5])).sum().backward()
    opt.step()
    moved = (emb.weight != before).any(1)
    assert moved.tolist() == [i in (2, 5) for i in range(10)]


def test_dense_gradient_is_rejected():
    w = torch.nn.Parameter(torch.zeros(3, 2))
    w.sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients only"):
        RowSparseAdam([w]).step()

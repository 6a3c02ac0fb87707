"""Adam for sparse embedding gradients, computed on the touched rows only.

The update is exactly ``torch.optim.SparseAdam``'s (lazy Adam: moments and
weights change only for rows in the batch, bias correction by the parameter's
step count), but done with ``index_select`` / ``index_copy_`` on the coalesced
rows instead of sparse-into-dense adds, which are the slow part of SparseAdam
on CPU (about half of an MF-BPR epoch on Gowalla).
"""
from __future__ import annotations

import math

import torch


class RowSparseAdam(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        if lr <= 0 or eps <= 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid Adam settings lr={lr} betas={betas} eps={eps}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise RuntimeError("RowSparseAdam takes sparse gradients only (nn.Embedding(sparse=True))")
                grad = p.grad.coalesce()
                rows, values = grad.indices()[0], grad.values()
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m = state["exp_avg"].index_select(0, rows).mul_(beta1).add_(values, alpha=1 - beta1)
                v = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
                state["exp_avg"].index_copy_(0, rows, m)
                state["exp_avg_sq"].index_copy_(0, rows, v)
                step_size = group["lr"] * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
                p.index_add_(0, rows, m.div_(v.sqrt_().add_(group["eps"])).mul_(-step_size))
        return loss

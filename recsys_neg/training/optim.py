"""Optimisers: sparse embedding tables get a sparse-aware optimiser, the rest a dense one."""
from __future__ import annotations

import torch

from .row_adam import RowSparseAdam


class OptimizerGroup:
    """Several optimisers stepped together (SparseAdam cannot take dense parameters)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]):
        self.optimizers = optimizers

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=True)

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def set_lr(self, lr: float) -> None:
        for o in self.optimizers:
            for group in o.param_groups:
                group["lr"] = lr

    @property
    def lr(self) -> float:
        return self.optimizers[0].param_groups[0]["lr"]

    def state_dict(self) -> list[dict]:
        return [o.state_dict() for o in self.optimizers]

    def load_state_dict(self, states: list[dict]) -> None:
        if len(states) != len(self.optimizers):
            raise ValueError(f"optimizer state has {len(states)} parts, expected {len(self.optimizers)}")
        for o, s in zip(self.optimizers, states):
            o.load_state_dict(s)


def build_optimizer(model: torch.nn.Module, name: str, lr: float,
                    extra: list[torch.nn.Module] = ()) -> OptimizerGroup:
    """``extra``: other modules with trainable parameters (a loss's learnable flip rates)."""
    sparse = {id(p) for p in model.sparse_parameters()}
    params = [p for m in (model, *extra) for p in m.parameters() if p.requires_grad]
    sparse_params = [p for p in params if id(p) in sparse]
    dense_params = [p for p in params if id(p) not in sparse]
    opts: list[torch.optim.Optimizer] = []
    if name == "adam":
        if dense_params:
            opts.append(torch.optim.Adam(dense_params, lr=lr))
        if sparse_params:
            opts.append(RowSparseAdam(sparse_params, lr=lr))
    elif name == "sgd":
        opts.append(torch.optim.SGD(params, lr=lr))
    elif name == "adagrad":
        opts.append(torch.optim.Adagrad(params, lr=lr))
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    return OptimizerGroup(opts)

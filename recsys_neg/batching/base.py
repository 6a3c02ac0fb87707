"""The batch-order contract: ``order(n, step) -> permutation of the n training pairs``.

The trainer cuts the permutation into consecutive batches. The plain shuffle is
the default; an order that puts similar users or items together (NGAME-style
clustering) makes in-batch negatives hard without changing the sampler.
"""
from __future__ import annotations

import torch

from ..data.interactions import Interactions
from ..state import NoState
from ..registry import Params, Registry
from ..step import Step

BATCHING: Registry["BatchOrder"] = Registry("batch order", "recsys_neg.batching")


class BatchOrder(NoState):
    Params = Params

    def __init__(self, data: Interactions, params: Params, device="cpu"):
        self.data, self.params, self.device = data, params, torch.device(device)

    def order(self, n: int, step: Step) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define order()")

    def diagnostics(self) -> dict[str, float]:
        """Numbers logged with the epoch's record (a re-clustering's seconds …)."""
        return {}



def build_batching(params: Params | dict, data: Interactions, device="cpu", path: str = "batching",
                   **parts) -> BatchOrder:
    return BATCHING.build(BATCHING.parse(params, path), data=data, device=device, **parts)

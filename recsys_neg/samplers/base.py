"""The negative-sampler contract.

``sample(users[B], positives[B], num, step, scorer) -> Negatives``. ``items``
is [B, num], or [1, num] for one negative set shared by the whole batch.
``log_q`` is the log proposal probability (for sampled-softmax correction),
``weight`` a per-negative weight (false-negative-aware or noise-robust).
``vectors`` carries synthesised negatives ([B,num,d] or [1,num,d] mixtures of
embeddings, with gradient, built from the scorer's representations); ``items``
then names the catalogue items they derive from (for L2 and logging), and the
step scores the vectors instead of looking the items up.
Every draw uses ``step.generator``; samplers that choose by score call
``scorer(users, items)``, which reuses the step's representations.

The number of negatives is the sampler's own parameter (``num_negatives``);
composite samplers (mixed parts, a wrapped base) pass their own counts.
A sampler with state that a resumed run needs (a refreshed index) returns it
from ``state_dict``: tensors and plain values only. ``diagnostics()`` reports
numbers worth logging per epoch (an index's refresh cost and staleness), as a
loss's does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field

from ..data.interactions import Interactions
from ..state import NoState
from ..registry import Params, Registry
from ..step import Scorer, Step

SAMPLERS: Registry["NegativeSampler"] = Registry("sampler", "recsys_neg.samplers")


class SamplerParams(Params):
    """Every sampler's parameters: how many negatives per positive."""

    num_negatives: int = Field(1, ge=1, description="negatives per positive")


class ExcludesPositives(Params):
    """For samplers that can keep each user's training positives out of its negatives."""

    exclude_positives: bool = True


@dataclass
class Negatives:
    items: torch.Tensor
    log_q: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    vectors: torch.Tensor | None = None


class NegativeSampler(NoState):
    """Base class. Subclasses declare ``Params`` and implement ``sample``."""

    Params = SamplerParams

    def __init__(self, data: Interactions, params: SamplerParams, device: torch.device | str = "cpu"):
        self.data = data
        self.params = params
        self.device = torch.device(device)

    @property
    def num_negatives(self) -> int | None:
        return self.params.num_negatives

    @property
    def excludes_positives(self) -> bool:
        """True when no returned negative is ever a training positive of its user."""
        return bool(getattr(self.params, "exclude_positives", False))

    def sample(self, users: torch.Tensor, positives: torch.Tensor, num: int, step: Step,
               scorer: Scorer | None = None) -> Negatives:
        raise NotImplementedError(f"{type(self).__name__} does not define sample()")

    @property
    def random_draws(self) -> bool:
        """False for samplers whose negatives follow from the batch alone (shared in-batch, a memory)."""
        return True

    def epoch_start(self, step: Step) -> None:
        """For samplers with per-epoch state (refreshing an index, schedules)."""

    def diagnostics(self) -> dict[str, float]:
        """Numbers logged with the epoch's record (refresh seconds, staleness …)."""
        return {}



def require_scorer(scorer: Scorer | None, name: str) -> Scorer:
    if scorer is None:
        raise ValueError(f"the {name} sampler chooses by model score: pass a scorer")
    return scorer


def require_representations(scorer: Scorer | None, name: str):
    """The step's ``Representations`` (vectors with gradient), for samplers that synthesise negatives."""
    if scorer is None or not hasattr(scorer, "item_layers"):
        raise ValueError(f"the {name} sampler synthesises negatives from the step's representations: "
                         "pass the step's scorer (models.base.ModelScorer)")
    return scorer


def build_sampler(params: Params | dict, data: Interactions, device="cpu", path: str = "sampler",
                  **parts) -> NegativeSampler:
    """A sampler from its typed config (or a ``{name: ...}`` dict, validated here)."""
    return SAMPLERS.build(SAMPLERS.parse(params, path), data=data, device=device, **parts)

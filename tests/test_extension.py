"""Extending the engine is one new file per part: a toy sampler, loss, model, data reader and metric,
each in its own module outside the package, trained end to end with no other edit."""
from __future__ import annotations

import importlib
import sys
import textwrap

from recsys_neg.config import config_from_dict
from recsys_neg.data.sources.base import SOURCES
from recsys_neg.evaluation.metrics import METRICS
from recsys_neg.losses.base import LOSSES
from recsys_neg.models.base import MODELS
from recsys_neg.samplers.base import SAMPLERS
from recsys_neg.pipeline import run_pipeline

TOYS = {
    "toy_sampler.py": '''
        import torch
        from pydantic import Field
        from recsys_neg.samplers.base import SAMPLERS, Negatives, NegativeSampler, SamplerParams

        @SAMPLERS.register("toy_sampler")
        class ToySampler(NegativeSampler):
            """Uniform over the items from ``first`` on (no exclusion)."""
            class Params(SamplerParams):
                first: int = Field(0, ge=0)

            def sample(self, users, positives, num, step, scorer=None):
                return Negatives(torch.randint(self.params.first, self.data.n_items, (users.shape[0], num),
                                               generator=step.generator))
    ''',
    "toy_loss.py": '''
        import torch.nn.functional as F
        from recsys_neg.losses.base import LOSSES, Loss
        from recsys_neg.registry import Params

        @LOSSES.register("toy_hinge")
        class ToyHinge(Loss):
            class Params(Params):
                margin: float = 1.0

            def per_example(self, pos, neg, weight=None, log_q=None):
                return F.relu(self.params.margin - pos.unsqueeze(1) + neg).mean(-1)
    ''',
    "toy_model.py": '''
        import torch
        from torch import nn
        from recsys_neg.models.base import MODELS, Encoded, Model
        from recsys_neg.registry import Params

        @MODELS.register("toy_mf")
        class ToyMF(Model):
            class Params(Params):
                dim: int = 8

            def __init__(self, data, params):
                super().__init__(data, params)
                self.u = nn.Parameter(torch.randn(self.n_users, params.dim) * 0.1)
                self.v = nn.Parameter(torch.randn(self.n_items, params.dim) * 0.1)

            def encode(self):
                return Encoded(users=self.u, items=self.v)
    ''',
    "toy_reader.py": '''
        import numpy as np
        import pandas as pd
        from recsys_neg.data.sources.base import SOURCES, DataSource
        from recsys_neg.registry import Params

        @SOURCES.register("toy_blocks")
        class ToyBlocks(DataSource):
            """Users in blocks, each liking its block's items: a structure any model can learn."""
            class Params(Params):
                users: int = 120
                blocks: int = 4

            def read(self, base_dir=None):
                rng = np.random.default_rng(0)
                rows = []
                for u in range(self.params.users):
                    block = u % self.params.blocks
                    items = rng.choice(np.arange(block * 20, block * 20 + 20), 10, replace=False)
                    rows += [(f"user{u}", f"item{i}") for i in items]
                return pd.DataFrame(rows, columns=["user", "item"]), "toy_blocks"
    ''',
    "toy_metric.py": '''
        from recsys_neg.evaluation.metrics import METRICS

        @METRICS.register("first_hit")
        def first_hit(hits, n_rel, k):
            """1 when the top-ranked item is relevant."""
            return hits[:, :1].float().sum(1)
    ''',
}


def test_one_file_per_part_trains_end_to_end(tmp_path, monkeypatch):
    for name, code in TOYS.items():
        (tmp_path / name).write_text(textwrap.dedent(code))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in TOYS:
        importlib.import_module(name[:-3])
    try:
        cfg = config_from_dict({
            "data": {"source": {"source": "toy_blocks"}, "split": {"method": "random", "test_ratio": 0.3,
                                                                    "valid_ratio": 0.1}},
            "model": {"name": "toy_mf", "dim": 8}, "sampler": {"name": "toy_sampler", "first": 0, "num_negatives": 4},
            "loss": {"name": "toy_hinge", "margin": 0.5},
            "train": {"epochs": 15, "batch_size": 64, "lr": 0.05, "progress": False, "early_stopping": None},
            "eval": {"ks": [5, 10], "metrics": ["recall", "first_hit"]},
            "tracking": {"enabled": False}, "output_dir": str(tmp_path / "runs")})
        res = run_pipeline(cfg)
        assert {"first_hit@5", "recall@10"} <= set(res.test)
        # blocks are learnable: far above the 20/80 of a random ranking of four equal blocks
        assert res.test["recall@10"] > 0.35
        assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    finally:  # the toys leave the registries as they found them: later tests list every metric
        for registry, name in ((SAMPLERS, "toy_sampler"), (LOSSES, "toy_hinge"), (MODELS, "toy_mf"),
                               (SOURCES, "toy_blocks"), (METRICS, "first_hit")):
            registry.unregister(name)
        for name in TOYS:
            sys.modules.pop(name[:-3], None)

"""``recall@20`` as one small type: parsed once, written the same way everywhere.

A key is a metric name and a cutoff. ``str(key)`` is ``recall@20`` (results,
per-user CSVs); ``key.of(split)`` is ``valid_recall@20`` (epoch records);
``key.tracked(split)`` is ``valid_recall_at_20`` (MLflow forbids ``@``).
"""
from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BeforeValidator, PlainSerializer
from typing_extensions import Annotated


class MetricKey(NamedTuple):
    metric: str
    k: int

    @classmethod
    def parse(cls, text: Any) -> "MetricKey":
        if isinstance(text, MetricKey):
            return text
        metric, sep, k = str(text).partition("@")
        if not sep or not k.strip().isdigit() or not metric.strip() or int(k) < 1:
            raise ValueError(f"metric name {text!r} must look like 'recall@20' (a name, '@', a positive K)")
        return cls(metric.strip(), int(k))

    def __str__(self) -> str:
        return f"{self.metric}@{self.k}"

    def of(self, split: str) -> str:
        return f"{split}_{self}"

    def tracked(self, split: str = "") -> str:
        return tracked_name(self.of(split) if split else str(self))


def tracked_name(name: str) -> str:
    """An MLflow-safe metric name: ``valid_recall@20`` -> ``valid_recall_at_20``."""
    return name.replace("@", "_at_")


# A pydantic field holding a MetricKey: validated from "recall@20", written back as that string.
MetricField = Annotated[MetricKey, BeforeValidator(MetricKey.parse), PlainSerializer(str, return_type=str)]

"""Train on every observed positive as it comes (the standard protocol)."""
from __future__ import annotations

from ..registry import Params
from .base import POSITIVES, PositiveSelector


@POSITIVES.register("all")
class AllPositives(PositiveSelector):
    Params = Params

    def select(self, users, positives, step, scorer=None):
        return positives

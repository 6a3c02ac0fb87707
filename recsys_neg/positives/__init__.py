"""Positive selectors: which of a user's positives a step trains on."""
from .base import POSITIVES, PositiveSelector, build_positive_selector

__all__ = ["POSITIVES", "PositiveSelector", "build_positive_selector"]

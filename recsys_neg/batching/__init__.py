"""Batch order: which training pairs share a batch. Every file here registers one in ``BATCHING``."""
from .base import BATCHING, BatchOrder, build_batching

__all__ = ["BATCHING", "BatchOrder", "build_batching"]

"""Negative samplers: every file here registers one sampler in ``SAMPLERS``."""
from .base import SAMPLERS, Negatives, NegativeSampler, SamplerParams, build_sampler

__all__ = ["SAMPLERS", "Negatives", "NegativeSampler", "SamplerParams", "build_sampler"]

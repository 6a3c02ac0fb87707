"""Models: every file here registers one model class in ``MODELS``."""
from .base import MODELS, Encoded, Model, ModelScorer, build_model

__all__ = ["MODELS", "Encoded", "Model", "ModelScorer", "build_model"]

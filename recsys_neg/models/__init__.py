"""Models: every file here registers one model class in ``MODELS``."""
from .base import MODELS, Model, build_model

__all__ = ["MODELS", "Model", "build_model"]

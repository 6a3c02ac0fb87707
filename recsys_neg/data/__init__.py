"""Data layer: read a source, filter it, encode ids, split, and build Interactions."""
from .build import build_interactions, load_gowalla
from .config import DataConfig
from .interactions import Interactions
from .synthetic import generate_synthetic

__all__ = ["Interactions", "DataConfig", "build_interactions", "load_gowalla", "generate_synthetic"]

"""Data sources: every file here registers one reader in ``SOURCES`` (keyed by ``source:``)."""
from .base import SOURCES, DataSource

__all__ = ["SOURCES", "DataSource"]

"""Losses: every file here registers one loss in ``LOSSES``."""
from .base import LOSSES, Loss, build_loss

__all__ = ["LOSSES", "Loss", "build_loss"]

from .hooks import Hook
from .step import PhaseTimer, StepParts, train_step
from .trainer import Trainer, TrainResult

__all__ = ["Hook", "PhaseTimer", "StepParts", "Trainer", "TrainResult", "train_step"]

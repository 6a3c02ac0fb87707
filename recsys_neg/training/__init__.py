from .trainer import Trainer, TrainResult

__all__ = ["Trainer", "TrainResult"]

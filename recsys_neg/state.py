"""Resumable state of a component: tensors and plain values only (checkpoints load with weights_only=True)."""
from __future__ import annotations


class NoState:
    """The default for components that keep nothing between steps; refuses state it does not know."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state to restore, got keys {sorted(state)}")

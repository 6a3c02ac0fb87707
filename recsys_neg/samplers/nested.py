"""Sampler specs inside another sampler's parameters (mixed parts, wrapped bases).

A nested spec is ``{name: ..., <that sampler's parameters>}``; it is validated
against the named sampler's own ``Params`` when the outer config is validated,
and errors carry the full path (``sampler.parts.0.candidates``).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError
from ..registry import format_validation_error


class SamplerSpec(BaseModel):
    """``name`` plus the named sampler's parameters (kept as given, validated by ``check``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str

    def values(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def check(self, path: str) -> None:
        """Raise ValueError naming ``path`` when the name or parameters are invalid."""
        from .base import SAMPLERS

        try:
            cls = SAMPLERS.get(self.name)
        except ConfigError as err:
            raise ValueError(f"{path}.name: {err}") from None
        try:
            cls.Params.model_validate(self.values())
        except ValidationError as err:
            raise ValueError("; ".join(line.strip() for line in
                                       format_validation_error(err, path).splitlines())) from None

    def build(self, data, device, path: str):
        from .base import build_sampler

        return build_sampler(self.name, self.values(), data, device, field=path)

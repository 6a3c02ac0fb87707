"""Name -> component registries.

A component is one file: a class decorated with ``@REGISTRY.register("name")``
that declares its parameters as a nested pydantic model ``Params``. The
registry imports every module of its package on first use, so adding a file
is all it takes to add a sampler, loss, model or positive selector.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

T = TypeVar("T")


class Params(BaseModel):
    """Base for component parameters: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        lines.append(f"  {path}: {e['msg']}")
    return "\n".join(lines)


class Registry(Generic[T]):
    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
        self._items: dict[str, type[T]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            if name in self._items and self._items[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            if not hasattr(cls, "Params"):
                raise TypeError(f"{cls.__name__} must declare a nested Params model")
            cls.registry_name = name  # type: ignore[attr-defined]
            self._items[name] = cls
            return cls

        return deco

    def _load(self) -> None:
        if self._loaded:
            return
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")
        self._loaded = True

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def get(self, name: str) -> type[T]:
        self._load()
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
        return self._items[name]

    def params(self, name: str, values: dict[str, Any], field: str) -> BaseModel:
        """Validate ``values`` against the component's Params; errors name ``field``."""
        cls = self.get(name)
        try:
            return cls.Params.model_validate(values)  # type: ignore[attr-defined]
        except ValidationError as err:
            raise ConfigError(
                f"invalid {self.kind} parameters for {name!r}:\n"
                + format_validation_error(err, field)
            ) from None

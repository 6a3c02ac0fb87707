"""Name -> component registries, and the typed config of a component.

A component is one file: a class (or, for metrics, a function) decorated with
``@REGISTRY.register("name")`` that declares its parameters as a nested
pydantic model ``Params``. The registry imports every module of its package on
first use, so adding a file is all it takes; a module imported from anywhere
else registers the same way.

A component section of a pipeline, ``{name: dns, candidates: 32}``, is
validated once, by ``Registry.parse``, into an instance of the component's
``Params`` with its ``name`` attached (a discriminated union on ``name`` whose
members are looked up at validation time, so late registrations count). That
typed object is what constructors receive.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, Callable, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError, create_model
from pydantic_core import PydanticCustomError
from typing_extensions import Annotated

from .errors import ConfigError

T = TypeVar("T")


class Params(BaseModel):
    """Base for component parameters: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def error_lines(err: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, message) per error; nested component errors keep their full path."""
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        inner = (e.get("ctx") or {}).get("component_errors")
        if e["type"] == "component" and inner:
            out.extend((f"{path}.{p}" if p else path, m) for p, m in inner)
        else:
            out.append((path, e["msg"].removeprefix("Value error, ")))
    return out


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    return "\n".join(f"  {path}: {msg}" if path else f"  {msg}" for path, msg in error_lines(err, prefix))


def declared_in(cls: type, field: str) -> type | None:
    """The most derived class of ``cls``'s MRO whose own body declares ``field``."""
    for klass in cls.__mro__:
        if field in vars(klass).get("__annotations__", {}):
            return klass
    return None


class Registry(Generic[T]):
    """Components of one kind by name. ``key`` is the field that names them in a config."""

    def __init__(self, kind: str, package: str, key: str = "name"):
        self.kind, self.package, self.key = kind, package, key
        self._items: dict[str, Any] = {}
        self._configs: dict[str, type[Params]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            if isinstance(obj, type) and not issubclass(getattr(obj, "Params", object), Params):
                raise TypeError(f"{obj.__name__} must declare a nested Params model (a registry.Params)")
            if isinstance(obj, type):
                obj.registry_name = name  # type: ignore[attr-defined]
            self._items[name] = obj
            self._configs.pop(name, None)
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove a component (a plug-in being reloaded, or a test's toy): its name becomes free again."""
        self._items.pop(name, None)
        self._configs.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __iter__(self):
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def get(self, name: str) -> Any:
        self._load()
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
        return self._items[name]

    # ---- typed configs ------------------------------------------------------
    def params_class(self, name: str) -> type[Params]:
        return self.get(name).Params

    def config_class(self, name: str) -> type[Params]:
        """The component's Params with a ``<key>: Literal[name]`` field: one member of the union."""
        base = self.params_class(name)
        if name not in self._configs:
            self._configs[name] = create_model(
                f"{base.__name__}_{name}", __base__=base, __module__=base.__module__,
                **{self.key: (Literal[name], name)})  # type: ignore[call-overload]
        return self._configs[name]

    def defaults(self, name: str) -> Params:
        return self.config_class(name)()

    def name_of(self, params: Params) -> str:
        return getattr(params, self.key)

    def parse(self, value: Any, path: str = "") -> Params:
        """Validate ``{key: name, ...}`` (or an already typed config) once; ConfigError names the path."""
        try:
            return self._parse(value)
        except _Invalid as bad:
            lines = [(f"{path}.{p}" if path and p else (path or p), m) for p, m in bad.lines]
            raise ConfigError(f"invalid {self.kind} parameters:\n"
                              + "\n".join(f"  {p}: {m}" for p, m in lines)) from None

    def _parse(self, value: Any) -> Params:
        if isinstance(value, Params) and hasattr(value, self.key):
            return value
        if isinstance(value, Params):  # a component's own Params, without its name: unique owner only
            owners = [n for n in self.names() if self.params_class(n) is type(value)]
            if len(owners) != 1:
                raise _Invalid([("", f"{type(value).__name__} is the parameters of "
                                     f"{' and '.join(owners) or 'no registered ' + self.kind}; "
                                     f"give {{{self.key}: ..., ...}} instead")])
            value = {self.key: owners[0], **value.model_dump()}
        if not isinstance(value, dict) or self.key not in value:
            raise _Invalid([("", f"a {self.kind} section needs '{self.key}' "
                                 f"(one of: {', '.join(self.names())})")])
        name = value[self.key]
        if not isinstance(name, str) or name not in self.names():
            raise _Invalid([(self.key, f"unknown {self.kind} {name!r}; "
                                       f"choose one of: {', '.join(self.names())}")])
        try:
            return self.config_class(name).model_validate(value)
        except ValidationError as err:
            raise _Invalid(error_lines(err)) from None

    def dump(self, params: Params, mode: str = "python") -> dict[str, Any]:
        """``{key: name, field: value, ...}`` with the name first."""
        data = params.model_dump(mode=mode)
        return {self.key: data.pop(self.key), **data}

    def carried_keys(self, old: str, new: str, keys) -> list[str]:
        """Keys of an ``old`` section that keep their meaning under ``new``: declared by the same class."""
        if old not in self.names() or new not in self.names():
            return []
        a, b = self.params_class(old), self.params_class(new)
        return [k for k in keys if k != self.key and k in b.model_fields
                and declared_in(a, k) is not None and declared_in(a, k) is declared_in(b, k)]

    # ---- construction -------------------------------------------------------
    def build(self, params: Params, **available) -> Any:
        """Instantiate the named component with ``params``. Of ``available`` (``data``, ``device``,
        ``model``, ``loss``, ``sampler`` …) only what its constructor names is passed: a part
        that needs another part says so in its signature."""
        cls = self.get(self.name_of(params))
        accepted = inspect.signature(cls.__init__).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        deps = {k: v for k, v in available.items() if takes_all or k in accepted}
        return cls(params=params, **deps)

    def validate_nested(self, value: Any) -> Params:
        """``parse`` for use inside a pydantic validator: errors keep their paths below the caller's."""
        try:
            return self._parse(value)
        except _Invalid as bad:
            raise _component_error(bad.lines) from None

    def field(self) -> Any:
        """The pydantic field type of a section holding one of these components."""
        return Annotated[Params, BeforeValidator(self.validate_nested),
                         PlainSerializer(lambda p, info: self.dump(p, info.mode), return_type=dict)]


class _Invalid(Exception):
    def __init__(self, lines: list[tuple[str, str]]):
        super().__init__(lines)
        self.lines = lines


def lazy_component_field(get_registry: Callable[[], Registry]) -> Any:
    """``Registry.field()`` for a registry reached through ``get_registry`` at validation time,
    so that declaring the field imports nothing of the components."""
    return Annotated[Params, BeforeValidator(lambda v: get_registry().validate_nested(v)),
                     PlainSerializer(lambda p, info: get_registry().dump(p, info.mode), return_type=dict)]


def _component_error(lines: list[tuple[str, str]]) -> PydanticCustomError:
    text = "; ".join(f"{p}: {m}" if p else m for p, m in lines)
    return PydanticCustomError("component", text, {"component_errors": lines})

"""Hyper-parameter dataclasses: typed, frozen, buildable from ``key=value`` strings."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, Self

from trustrec.errors import ConfigError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _convert(model: str, key: str, raw: Any, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.lower() in {"none", "null", ""}):
            return None
        kind = args[0]
    if origin is typing.Literal:
        options = typing.get_args(kind)
        if raw not in options:
            raise ConfigError(f"model '{model}': parameter '{key}' must be one of "
                              f"{', '.join(map(str, options))}; got {raw!r}")
        return raw
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(raw)
        if kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            return int(float(raw)) if isinstance(raw, str) and "e" in raw.lower() else int(raw)
        if kind is float:
            return float(raw)
        if kind is str:
            return str(raw)
    except (TypeError, ValueError):
        name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"model '{model}': parameter '{key}' expects {name}, got {raw!r}") \
            from None
    return raw


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every model's hyper-parameters. Subclasses add typed fields with defaults.

    Override :meth:`check` to validate ranges; it runs on construction and raises
    :class:`ConfigError` with the parameter's name.
    """

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Validate values; raise ``ConfigError`` naming the parameter."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None, model: str = "") -> Self:
        """Build from a mapping whose values may be strings (``{"l2": "500"}``)."""
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        values: dict[str, Any] = {}
        for key, raw in (params or {}).items():
            if key not in names:
                valid = ", ".join(names) or "(none)"
                raise ConfigError(f"model '{model}': unknown parameter '{key}'; valid: {valid}")
            values[key] = _convert(model, key, raw, hints[key])
        return cls(**values)

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the parameters."""
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of the parameters."""
        return [f.name for f in dataclasses.fields(cls)]


def require(condition: bool, model: str, key: str, expected: str, value: Any) -> None:
    """Raise ``ConfigError`` unless ``condition`` (used in ``Config.check``)."""
    if not condition:
        raise ConfigError(f"model '{model}': parameter '{key}' must be {expected}; got {value!r}")

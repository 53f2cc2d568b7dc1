"""Hyper-parameter dataclasses: typed, frozen, buildable from ``key=value`` strings.

Strings convert exactly or not at all: an ``int`` field takes ``12``, ``1e3`` or ``12.0`` but
refuses ``2.5`` and ``1.5e0`` (never rounds); a ``float`` field takes any number; a
``tuple[…, ...]`` field (a list) takes ``64,32,16`` or ``[64, 32, 16]`` (or a list), each
element converted by the same rules. A refusal is a ``ConfigError`` naming the model, the
parameter and what it expects.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from trustrec.errors import ConfigError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class _Refused(ValueError):
    """A value of the wrong type, with what was expected instead."""


def _to_int(raw: Any) -> int:
    """``raw`` as an int if it is exactly one (``"12"``, ``"1e3"``, ``12.0``); never rounded."""
    if isinstance(raw, bool):
        raise _Refused("an integer, not a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if not raw.is_integer():
            raise _Refused("a whole number")
        return int(raw)
    if not isinstance(raw, str):
        raise _Refused("an integer")
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        raise _Refused("an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise _Refused("a whole number (it would not convert exactly)")
    return int(number)


def _to_float(raw: Any) -> float:
    """``raw`` as a float (an int only if exactly representable)."""
    if isinstance(raw, bool):
        raise _Refused("a number, not a boolean")
    if isinstance(raw, int):
        if float(raw) != raw:
            raise _Refused("a number a float holds exactly")
        return float(raw)
    if isinstance(raw, float):
        return raw
    if not isinstance(raw, str):
        raise _Refused("a number")
    try:
        return float(raw.strip())
    except ValueError:
        raise _Refused("a number") from None


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Refused("true or false")


def _items(raw: Any) -> list[Any]:
    """The elements of a list value: a list/tuple, or text ``"a,b,c"`` / ``"[a, b, c]"``."""
    if isinstance(raw, (list, tuple)):
        return list(raw)
    if not isinstance(raw, str):
        raise _Refused("a comma-separated list")
    text = raw.strip()
    if text[:1] + text[-1:] in ("[]", "()"):
        text = text[1:-1]
    return [part.strip() for part in text.split(",") if part.strip()]


_SCALARS = {int: _to_int, float: _to_float, bool: _to_bool}


def _convert(model: str, key: str, raw: Any, kind: Any) -> Any:
    """``raw`` (often a string from the CLI) converted exactly to the field type ``kind``, or
    ``ConfigError`` naming the model, the parameter and what was expected."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.lower() in {"none", "null", ""}):
            return None
        kind, origin = args[0], typing.get_origin(args[0])
    if origin is typing.Literal:
        options = typing.get_args(kind)
        if raw not in options:
            raise ConfigError(f"model '{model}': parameter '{key}' must be one of "
                              f"{', '.join(map(str, options))}; got {raw!r}")
        return raw
    try:
        if origin is tuple:
            element = typing.get_args(kind)[0]
            return tuple(_convert(model, key, item, element) for item in _items(raw))
        if kind in _SCALARS:
            return _SCALARS[kind](raw)
        if kind is str:
            return str(raw)
    except _Refused as exc:
        raise ConfigError(f"model '{model}': parameter '{key}' expects {exc}, got {raw!r}") \
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

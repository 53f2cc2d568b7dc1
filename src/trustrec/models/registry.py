"""Model registry: names → classes, so the CLI and config files can say ``--model ease``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from trustrec.errors import ConfigError
from trustrec.models.base import Recommender

_REGISTRY: dict[str, type[Recommender]] = {}
T = TypeVar("T", bound=type[Recommender])


def register(cls: T) -> T:
    """Class decorator: make a model available under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ConfigError(f"model name '{cls.name}' registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def available_models() -> list[str]:
    """Sorted names of all registered models."""
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type[Recommender]:
    """The class registered as ``name`` (``ConfigError`` listing valid names otherwise)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; available: {', '.join(available_models())}") \
            from None


def create_model(name: str, params: Mapping[str, Any] | None = None,
                 seed: int | None = None) -> Recommender:
    """Instantiate model ``name`` from (possibly string-valued) ``params`` and a seed."""
    cls = get_model_class(name)
    values = dict(params or {})
    if seed is not None and "seed" in cls.config_class.field_names():
        values.setdefault("seed", seed)
    return cls(cls.config_class.from_params(values, model=name))

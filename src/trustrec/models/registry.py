"""Model registry: names → classes, so the CLI and config files can say ``--model ease``.

The built-in models are declared in :data:`BUILTIN` (name → module, and where the
configuration class lives) and imported on first use; a model defined elsewhere (a plugin,
a test) joins with the :func:`register` decorator.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, TypeVar

from trustrec.errors import ConfigError
from trustrec.models.base import Recommender
from trustrec.models.config import Config

_REGISTRY: dict[str, type[Recommender]] = {}
T = TypeVar("T", bound=type[Recommender])

#: Built-in models: name → (module defining and registering the class,
#: ``module:ConfigClass`` of its configuration — a torch-free module for the torch models,
#: so that listing parameters does not import torch).
BUILTIN: dict[str, tuple[str, str]] = {
    "als": ("trustrec.models.als", "trustrec.models.als:AlsConfig"),
    "baseline": ("trustrec.models.baseline", "trustrec.models.baseline:BaselineConfig"),
    "bpr": ("trustrec.models.bpr", "trustrec.models.bpr:BprConfig"),
    "content": ("trustrec.models.content", "trustrec.models.content:ContentConfig"),
    "dp_ease": ("trustrec.models.dp_ease", "trustrec.models.dp_ease:DpEaseConfig"),
    "dp_ease_topk": ("trustrec.models.dp_ease_topk",
                     "trustrec.models.dp_ease_topk:DpEaseTopkConfig"),
    "dp_popularity": ("trustrec.models.dp_popularity",
                      "trustrec.models.dp_popularity:DpPopularityConfig"),
    "ease": ("trustrec.models.ease", "trustrec.models.ease:EaseConfig"),
    "hybrid": ("trustrec.models.hybrid", "trustrec.models.hybrid:HybridConfig"),
    "itemknn": ("trustrec.models.itemknn", "trustrec.models.itemknn:ItemKnnConfig"),
    "linear": ("trustrec.models.linear", "trustrec.models.linear:LinearConfig"),
    "llm_rerank": ("trustrec.models.llm_rerank",
                   "trustrec.models.llm_rerank:LLMRerankConfig"),
    "mf": ("trustrec.models.mf", "trustrec.models.mf:MFConfig"),
    "ncf": ("trustrec.models.ncf", "trustrec.models.torch_config:NcfConfig"),
    "popularity": ("trustrec.models.popularity",
                   "trustrec.models.popularity:PopularityConfig"),
    "sasrec": ("trustrec.models.sasrec", "trustrec.models.torch_config:SasrecConfig"),
}


def register(cls: T) -> T:
    """Class decorator: make a model available under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ConfigError(f"model name '{cls.name}' registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def available_models() -> list[str]:
    """Sorted names of all models, built-in and registered (imports none of them)."""
    return sorted(BUILTIN.keys() | _REGISTRY.keys())


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown model '{name}'; available: {', '.join(available_models())}")


def get_model_class(name: str) -> type[Recommender]:
    """The class registered as ``name``, importing its module on first use
    (``ConfigError`` listing valid names otherwise)."""
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name][0])  # the module registers the class
    try:
        return _REGISTRY[name]
    except KeyError:
        raise _unknown(name) from None


def get_config_class(name: str) -> type[Config]:
    """The configuration class of model ``name``, without importing the model itself where
    the registry declares a lighter module for it (``ConfigError`` for an unknown name)."""
    if name in _REGISTRY:
        return _REGISTRY[name].config_class
    if name not in BUILTIN:
        raise _unknown(name)
    module, _, attribute = BUILTIN[name][1].partition(":")
    return getattr(importlib.import_module(module), attribute)


def create_model(name: str, params: Mapping[str, Any] | None = None,
                 seed: int | None = None) -> Recommender:
    """Instantiate model ``name`` from (possibly string-valued) ``params`` and a seed."""
    cls = get_model_class(name)
    values = dict(params or {})
    if seed is not None and "seed" in cls.config_class.field_names():
        values.setdefault("seed", seed)
    return cls(cls.config_class.from_params(values, model=name))

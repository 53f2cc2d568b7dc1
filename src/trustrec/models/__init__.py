"""Recommenders behind one contract (:class:`Recommender`) and a name registry.

Importing this package imports no model: the registry names each built-in model's module
and imports it on first use (``create_model``, ``get_model_class``), so a helper such as
``trustrec.models.topk`` or ``trustrec models`` costs numpy and scipy, not torch.
"""

from trustrec.models.base import Recommender
from trustrec.models.config import Config
from trustrec.models.registry import (
    available_models,
    create_model,
    get_config_class,
    get_model_class,
    register,
)

__all__ = [
    "Config",
    "Recommender",
    "available_models",
    "create_model",
    "get_config_class",
    "get_model_class",
    "register",
]

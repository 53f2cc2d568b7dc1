"""Recommenders behind one contract (:class:`Recommender`) and a name registry."""

from trustrec.models import popularity  # noqa: F401  (registers the model)
from trustrec.models.base import Recommender
from trustrec.models.config import Config
from trustrec.models.registry import available_models, create_model, get_model_class, register

__all__ = [
    "Config",
    "Recommender",
    "available_models",
    "create_model",
    "get_model_class",
    "register",
]

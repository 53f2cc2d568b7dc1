"""Recommenders behind one contract (:class:`Recommender`) and a name registry."""

from trustrec.models import (
    als,  # noqa: F401  (registers the model)
    baseline,  # noqa: F401  (registers the model)
    bpr,  # noqa: F401  (registers the model)
    content,  # noqa: F401  (registers the model)
    dp_ease,  # noqa: F401  (registers the model)
    dp_ease_topk,  # noqa: F401  (registers the model)
    dp_popularity,  # noqa: F401  (registers the model)
    ease,  # noqa: F401  (registers the model)
    hybrid,  # noqa: F401  (registers the model)
    itemknn,  # noqa: F401  (registers the model)
    linear,  # noqa: F401  (registers the model)
    llm_rerank,  # noqa: F401  (registers the model)
    mf,  # noqa: F401  (registers the model)
    ncf,  # noqa: F401  (registers the model)
    popularity,  # noqa: F401  (registers the model)
    sasrec,  # noqa: F401  (registers the model)
)
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

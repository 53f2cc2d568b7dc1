"""Natural-language search: rank a model's items by their text's closeness to a query.

Works with every model that has item text vectors, i.e. every
:class:`~trustrec.models.content.TextVectorModel` (``content``, ``linear``, ``hybrid``).
The query is encoded with the model's encoder and centred like its item vectors
(``item_centre_``); an item's score is ``cos(query, item)``, or with a user
``(1 − user_weight) · cos(query, item) + user_weight · cos(profile, item)``, the profile
being the model's own (``user_profiles``) or the mean vector of the user's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trustrec.data.ids import IdIndex
from trustrec.data.recommendations import PAD
from trustrec.errors import ConfigError, ModelError
from trustrec.models.base import Recommender
from trustrec.models.content import TextVectorModel
from trustrec.models.topk import top_k


@dataclass(frozen=True)
class SearchResults:
    """Items found for ``query`` (personalised for user index ``user`` if not None), best
    first: ``items`` int32 indices, ``scores`` float32 and ``titles``, all (n ≤ k,)."""

    query: str
    user: int | None
    items: np.ndarray
    scores: np.ndarray
    titles: np.ndarray
    item_index: IdIndex

    def to_frame(self) -> pd.DataFrame:
        """Table ``item_id, title, rank, score`` (rank from 1)."""
        return pd.DataFrame({
            "item_id": self.item_index.to_external(self.items),
            "title": self.titles,
            "rank": np.arange(1, len(self.items) + 1),
            "score": self.scores,
        })


def text_model(model: Recommender) -> TextVectorModel:
    """``model`` if it is fitted and has item text vectors; ``ModelError`` otherwise."""
    if not isinstance(model, TextVectorModel):
        raise ModelError(f"model '{model.name}' has no item text vectors, so it cannot search; "
                         "use a text model such as 'content', 'linear' or 'hybrid'")
    model._check_fitted()
    return model


def _encode_query(model: TextVectorModel, query: str, encoder: Any | None) -> np.ndarray:
    if not query.strip():
        raise ConfigError("search: the query is empty")
    encoder = model.text_encoder() if encoder is None else encoder
    if str(encoder.model_id) != model.encoder_id_:
        raise ModelError(f"search: query encoder '{encoder.model_id}' is not the encoder "
                         f"'{model.encoder_id_}' the item vectors of model '{model.name}' "
                         "came from")
    vector = np.asarray(encoder.encode([query]), dtype=np.float32).reshape(-1)
    if vector.shape != model.item_centre_.shape:
        raise ModelError(f"search: query vector has {vector.shape[0]} dimensions, the item "
                         f"vectors of model '{model.name}' have {model.item_centre_.shape[0]}")
    vector = vector - model.item_centre_
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def user_vector(model: Recommender, user: int) -> np.ndarray:
    """Unit text profile of user index ``user``: the model's ``user_profiles`` if it has
    them, else the mean vector of the user's training items (zero without history)."""
    model = text_model(model)
    vectors = model.item_vectors_
    user = int(model._check_users([user])[0])
    profiles = getattr(model, "user_profiles", None)
    if callable(profiles):
        return np.asarray(profiles([user])[0], dtype=np.float32)
    history = model.seen_[user].indices
    mean = vectors[history].mean(axis=0) if len(history) else np.zeros(vectors.shape[1])
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def search_scores(model: Recommender, query: str, user: int | None = None,
                  user_weight: float = 0.3, encoder: Any | None = None) -> np.ndarray:
    """Score of every item for ``query`` (n_items,) float32; see the module docstring.

    ``encoder``: an already loaded ``TextEncoder`` (default: the model's, which loads
    ``config.encoder`` on first use).
    """
    if not 0.0 <= user_weight <= 1.0:
        raise ConfigError(f"search: user_weight must be in [0, 1]; got {user_weight!r}")
    model = text_model(model)
    vectors = model.item_vectors_
    scores = vectors @ _encode_query(model, query, encoder)
    if user is not None:
        scores = (1.0 - user_weight) * scores + user_weight * (vectors @ user_vector(model, user))
    return scores.astype(np.float32)


def search_items(model: Recommender, query: str, k: int = 10, user: int | None = None,
                 user_weight: float = 0.3, exclude_seen: bool = False,
                 encoder: Any | None = None) -> SearchResults:
    """The ``k`` items best matching ``query``, blended with user index ``user``'s profile
    when given (``exclude_seen`` then drops the user's training items)."""
    if k < 1:
        raise ConfigError(f"search: k must be ≥ 1, got {k}")
    scores = search_scores(model, query, user, user_weight, encoder)[None, :].copy()
    if exclude_seen and user is not None:
        scores[0, model.seen_[int(user)].indices] = -np.inf
    items, top = top_k(scores, k)
    keep = items[0] != PAD
    items, top = items[0, keep], top[0, keep]
    return SearchResults(query=query, user=user, items=items, scores=top,
                         titles=text_model(model).item_titles_[items],
                         item_index=model.item_index_)


def search_external(model: Recommender, query: str, k: int = 10, user_id: Any | None = None,
                    user_weight: float = 0.3, exclude_seen: bool = False,
                    encoder: Any | None = None) -> pd.DataFrame:
    """:func:`search_items` with an external user ID: table ``item_id, title, rank, score``.

    An unknown ``user_id`` raises ``UnknownIdError``.
    """
    model._check_fitted()
    user = None if user_id is None else int(model.user_index_.lookup([user_id], what="user")[0])
    return search_items(model, query, k, user, user_weight, exclude_seen, encoder).to_frame()

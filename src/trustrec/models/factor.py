"""Shared base of latent-factor models: a user's scores are ``p_u · Qᵀ (+ b)``.

A subclass learns ``user_factors_`` (n_users × k) and ``item_factors_`` (n_items × k), both
float32, and optionally an ``item_bias_`` (n_items,), and hands them to
:meth:`FactorRecommender._set_factors`. Scoring, pair prediction and the saved state are
shared here; subclasses with extra arrays extend ``_state``/``_load_state``.

Large catalogues get approximate retrieval (:class:`trustrec.models.ann_mixin.AnnRetrieval`):
``save`` builds a faiss HNSW index over the item vectors when the catalogue has at least
``TRUSTREC_ANN_MIN_ITEMS`` items and faiss is installed, the artifact keeps it with its
measured recall@10, and ``recommend`` uses it (set ``model.ann_ = None`` for exact lists).
"""

from __future__ import annotations

import numpy as np

from trustrec.models.ann_mixin import AnnRetrieval
from trustrec.models.base import Recommender


class FactorRecommender(AnnRetrieval, Recommender):
    """Base of models scoring ``user_factors_ @ item_factors_.T + item_bias_``; not registered.
    ANN vectors: ``[user_factors_, 1]`` and ``[item_factors_, item_bias_]``."""

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray,
                     item_bias: np.ndarray | None = None) -> None:
        """Store the learned factors as C-contiguous float32 arrays."""
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.item_bias_ = (None if item_bias is None
                           else np.ascontiguousarray(item_bias, dtype=np.float32))
        self.ann_ = None  # an index of other factors would be stale

    def _score(self, users: np.ndarray) -> np.ndarray:
        scores = self.user_factors_[users] @ self.item_factors_.T
        if self.item_bias_ is not None:
            scores += self.item_bias_
        return scores

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        if self.item_bias_ is not None:
            out += self.item_bias_[items]
        return out

    def _ann_user_vectors(self, users: np.ndarray) -> np.ndarray:
        x = self.user_factors_[users]
        if self.item_bias_ is None:
            return x
        return np.hstack([x, np.ones((len(x), 1), dtype=x.dtype)])

    def _ann_item_vectors(self, items: np.ndarray | None = None) -> np.ndarray:
        rows = slice(None) if items is None else items
        if self.item_bias_ is None:
            return self.item_factors_[rows]
        return np.concatenate([self.item_factors_[rows], self.item_bias_[rows][..., None]],
                              axis=-1)

    def _state(self) -> dict[str, np.ndarray]:
        state = {"user_factors": self.user_factors_, "item_factors": self.item_factors_}
        if self.item_bias_ is not None:
            state["item_bias"] = self.item_bias_
        return {**state, **self._ann_state()}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        users, items = arrays["user_factors"], arrays["item_factors"]
        bias = arrays.get("item_bias")
        k = users.shape[1] if users.ndim == 2 else -1
        expected = {"user_factors": (users, (self.n_users_, k)),
                    "item_factors": (items, (self.n_items_, k))}
        if bias is not None:
            expected["item_bias"] = (bias, (self.n_items_,))
        for key, (arr, shape) in expected.items():
            if arr.shape != shape or arr.dtype != np.float32:
                raise ValueError(f"{key} has shape {arr.shape} and dtype {arr.dtype}, "
                                 f"expected {shape} float32")
        self._set_factors(users, items, bias)
        self._load_ann_state(arrays)

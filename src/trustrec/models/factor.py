"""Shared base of latent-factor models: a user's scores are ``p_u · Qᵀ (+ b)``.

A subclass learns ``user_factors_`` (n_users × k) and ``item_factors_`` (n_items × k), both
float32, and optionally an ``item_bias_`` (n_items,), and hands them to
:meth:`FactorRecommender._set_factors`. Scoring, pair prediction and the saved state are
shared here; subclasses with extra arrays extend ``_state``/``_load_state``.
"""

from __future__ import annotations

import numpy as np

from trustrec.models.base import Recommender


class FactorRecommender(Recommender):
    """Base of models scoring ``user_factors_ @ item_factors_.T + item_bias_``; not registered."""

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray,
                     item_bias: np.ndarray | None = None) -> None:
        """Store the learned factors as C-contiguous float32 arrays."""
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.item_bias_ = (None if item_bias is None
                           else np.ascontiguousarray(item_bias, dtype=np.float32))

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

    def _state(self) -> dict[str, np.ndarray]:
        state = {"user_factors": self.user_factors_, "item_factors": self.item_factors_}
        if self.item_bias_ is not None:
            state["item_bias"] = self.item_bias_
        return state

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

"""Shared base of latent-factor models: a user's scores are ``p_u · Qᵀ (+ b)``.

A subclass learns ``user_factors_`` (n_users × k) and ``item_factors_`` (n_items × k), both
float32, and optionally an ``item_bias_`` (n_items,), and hands them to
:meth:`FactorRecommender._set_factors`. Scoring, pair prediction and the saved state are
shared here; subclasses with extra arrays extend ``_state``/``_load_state``.

Large catalogues get approximate retrieval (:mod:`trustrec.ann`): ``save`` builds a faiss
HNSW index over the item vectors when the catalogue has at least ``TRUSTREC_ANN_MIN_ITEMS``
items and faiss is installed, the artifact keeps it with its measured recall@10, and
``recommend`` uses it (set ``model.ann_ = None`` for exact lists).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from trustrec.data.recommendations import Recommendations
from trustrec.errors import ModelError
from trustrec.models.base import Recommender

log = logging.getLogger(__name__)


class FactorRecommender(Recommender):
    """Base of models scoring ``user_factors_ @ item_factors_.T + item_bias_``; not registered."""

    #: The ANN index of the items (``trustrec.ann.AnnIndex``) when one was built or loaded.
    ann_: Any = None

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

    def recommend(self, users: np.ndarray | list[int], k: int = 10, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None) -> Recommendations:
        """Top-``k`` lists (see :meth:`Recommender.recommend`); through the ANN index when the
        model has one and no ``candidates`` are given, exhaustive otherwise."""
        if self.ann_ is None or candidates is not None:
            return super().recommend(users, k, exclude_seen, candidates)
        from trustrec.ann.retrieval import recommend_ann

        self._check_fitted()
        if k < 1:
            raise ModelError(f"model '{self.name}': k must be ≥ 1, got {k}")
        return recommend_ann(self, self._check_users(users), k, exclude_seen,
                             exact=lambda u, n, seen: Recommender.recommend(self, u, n, seen))

    def save(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write the model (see :meth:`Recommender.save`, which gets ``options``), first
        building an ANN index when the catalogue reaches ``TRUSTREC_ANN_MIN_ITEMS`` and faiss
        is installed."""
        from trustrec.ann.index import AnnSettings

        self._check_fitted()
        if self.ann_ is None and AnnSettings.from_env().wants_index(self.n_items_):
            if importlib.util.find_spec("faiss") is None:
                log.warning("%d items but faiss is not installed: no ANN index, exact "
                            "retrieval (pip install 'trustrec[scale]')", self.n_items_)
            else:
                from trustrec.ann.retrieval import build_ann

                build_ann(self)
        return super().save(path, **options)

    def _state(self) -> dict[str, np.ndarray]:
        state = {"user_factors": self.user_factors_, "item_factors": self.item_factors_}
        if self.item_bias_ is not None:
            state["item_bias"] = self.item_bias_
        if self.ann_ is not None:
            state["ann_index"] = self.ann_.to_bytes()
        return state

    def _manifest_extra(self) -> dict[str, Any]:
        extra = super()._manifest_extra()
        if self.ann_ is not None:
            extra["ann"] = self.ann_info_
        return extra

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        super()._load_manifest_extra(extra)
        data = self.__dict__.pop("_ann_bytes", None)
        if data is None:
            return
        if "ann" not in extra:
            raise ValueError("state.ann_index is present but the manifest has no 'ann' entry")
        if importlib.util.find_spec("faiss") is None:
            log.warning("the artifact has an ANN index but faiss is not installed: exact "
                        "retrieval (pip install 'trustrec[scale]')")
            return
        from trustrec.ann.index import AnnIndex

        info = extra["ann"]
        self.ann_ = AnnIndex.from_bytes(data, info["ef_search"])
        self.ann_info_ = info

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
        if "ann_index" in arrays:
            self._ann_bytes = arrays["ann_index"]

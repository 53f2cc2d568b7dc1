"""``AnnRetrieval``: the ANN index plumbing shared by every model scoring an inner product.

A model whose scores are ``u · v_i`` for a user vector ``u`` and item vectors ``v_i``
inherits from :class:`AnnRetrieval` before its ``Recommender`` base (a plain mixin: this
module imports no model, so that :mod:`trustrec.models` can import it) and implements
``_ann_user_vectors(users)`` and ``_ann_item_vectors(items=None)`` (the rows ``items`` of
the item matrix, all rows for None); its ``_state`` adds ``**self._ann_state()`` and its
``_load_state`` calls ``self._load_ann_state(arrays)``. Then ``save`` (through ``to_files``)
builds an index when the catalogue reaches ``TRUSTREC_ANN_MIN_ITEMS`` and faiss is
installed, the artifact keeps it (SHA-checked) with its measured recall@10, and
``recommend`` uses it (set ``model.ann_ = None`` for exact lists).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from typing import Any, Self

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.data.recommendations import Recommendations
from trustrec.errors import ModelError

log = logging.getLogger(__name__)


class AnnRetrieval:
    """ANN-backed ``recommend``, index build in ``save`` and its persistence, for a
    ``Recommender`` subclass."""

    #: The ANN index of the items (``trustrec.ann.AnnIndex``) when one was built or loaded.
    ann_: Any = None

    def _ann_user_vectors(self, users: np.ndarray) -> np.ndarray:
        """The user side of the model's inner product for ``users``."""
        raise NotImplementedError

    def _ann_item_vectors(self, items: np.ndarray | None = None) -> np.ndarray:
        """The item side of the model's inner product: rows ``items`` (any index array;
        the result gets a trailing vector axis), all items for None."""
        raise NotImplementedError

    def fit(self, dataset: Dataset) -> Self:
        """Learn from ``dataset`` (see :meth:`Recommender.fit`), dropping a stale index."""
        self.ann_ = None
        return super().fit(dataset)

    def recommend(self, users: np.ndarray | list[int], k: int = 10, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None) -> Recommendations:
        """Top-``k`` lists (see :meth:`Recommender.recommend`); through the ANN index when the
        model has one and no ``candidates`` are given, exhaustive otherwise."""
        if self.ann_ is None or candidates is not None:
            return super().recommend(users, k, exclude_seen, candidates)
        from trustrec.models.ann_retrieval import recommend_ann

        self._check_fitted()
        if k < 1:
            raise ModelError(f"model '{self.name}': k must be ≥ 1, got {k}")
        return recommend_ann(self, self._check_users(users), k, exclude_seen,
                             exact=super().recommend)

    def to_files(self) -> Iterator[tuple[str, bytes]]:
        """The artifact's files (see :meth:`Recommender.to_files`, used by ``save`` and the
        encrypted save), first building an ANN index when the catalogue reaches
        ``TRUSTREC_ANN_MIN_ITEMS`` and faiss is installed."""
        from trustrec.ann.index import AnnSettings

        self._check_fitted()
        if self.ann_ is None and AnnSettings.from_env().wants_index(self.n_items_):
            if importlib.util.find_spec("faiss") is None:
                log.warning("%d items but faiss is not installed: no ANN index, exact "
                            "retrieval (pip install 'trustrec[scale]')", self.n_items_)
            else:
                from trustrec.models.ann_retrieval import build_ann

                build_ann(self)
        return super().to_files()

    def _ann_state(self) -> dict[str, np.ndarray]:
        """The index's bytes for ``_state`` (empty without an index)."""
        return {} if self.ann_ is None else {"ann_index": self.ann_.to_bytes()}

    def _load_ann_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Keep the index's bytes from ``_load_state`` until the manifest's ``ann`` entry is
        read (:meth:`_load_manifest_extra`)."""
        self.ann_ = None
        if "ann_index" in arrays:
            self._ann_bytes = arrays["ann_index"]

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

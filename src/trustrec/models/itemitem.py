"""Shared base of item-item models: a user's scores are ``X_u · W`` for an item-item matrix W.

``X`` is the training user × item matrix, binarised when the model's ``implicit`` parameter
is true (then it equals the base class's ``seen_`` and nothing extra is saved) and the raw
values otherwise (saved as ``input_values``, aligned with the saved ``seen_`` structure).
Subclasses implement ``_fit_weights(X)`` and the state of W; scoring is shared here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.models.base import Recommender
from trustrec.models.config import Config


@dataclass(frozen=True)
class ItemItemConfig(Config):
    """``implicit``: binarise the interactions (true) or use their values (false)."""

    implicit: bool = True


class ItemItemRecommender(Recommender):
    """Base of models scoring ``X_u · W`` (EASE, item kNN); not registered itself."""

    config_class = ItemItemConfig

    def _fit_weights(self, x: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        """The item × item weight matrix W learned from the input matrix ``x``."""
        raise NotImplementedError

    def _weights_state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_weights(self, arrays: dict[str, np.ndarray]) -> np.ndarray | sp.csr_matrix:
        raise NotImplementedError

    def _set_input(self, dataset: Dataset) -> None:
        """``input_``: ``seen_`` when ``implicit``, else the dataset's values (float32)."""
        if self.config.implicit:
            self.input_: sp.csr_matrix = self.seen_
        else:
            self.input_ = dataset.csr.astype(np.float32, copy=True)

    def _fit(self, dataset: Dataset) -> None:
        self._set_input(dataset)
        self.weights_ = self._fit_weights(self.input_)

    def training_values(self) -> np.ndarray | None:
        """The values of ``input_`` (ones when ``implicit``), aligned with ``seen_``."""
        return self.input_.data

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores of all items for input rows shaped like ``input_`` (binary or values)."""
        scores = rows @ self.weights_
        return scores.toarray() if sp.issparse(scores) else np.asarray(scores)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_rows(self.input_[users])

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        data = np.ones(len(items), np.float32) if self.config.implicit else values
        row = sp.csr_matrix((data, items, [0, len(items)]), shape=(1, self.n_items_))
        row.sum_duplicates()
        if self.config.implicit:
            row.data[:] = 1.0
        return self._score_rows(row)[0]

    def _state(self) -> dict[str, np.ndarray]:
        state = self._weights_state()
        if not self.config.implicit:
            state["input_values"] = self.input_.data
        return state

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.input_ = self.seen_
        if not self.config.implicit:
            self.input_ = sp.csr_matrix(
                (arrays["input_values"], self.seen_.indices, self.seen_.indptr),
                shape=self.seen_.shape)
        self.weights_ = self._load_weights(arrays)

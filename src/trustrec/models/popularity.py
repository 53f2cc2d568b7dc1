"""``popularity``: recommends the items with the most training interactions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.models.base import Recommender
from trustrec.models.config import Config
from trustrec.models.registry import register


@dataclass(frozen=True)
class PopularityConfig(Config):
    """``by``: 'count' (number of interactions) or 'sum' (sum of values, e.g. ratings)."""

    by: Literal["count", "sum"] = "count"


@register
class Popularity(Recommender):
    """The same list for everyone, by interaction count: the baseline any model must beat."""

    name = "popularity"
    config_class = PopularityConfig

    def _fit(self, dataset: Dataset) -> None:
        if self.config.by == "count":
            self.item_scores_ = self.item_popularity_.copy()
        else:
            self.item_scores_ = np.bincount(dataset.item, weights=dataset.value,
                                            minlength=dataset.n_items).astype(np.float32)

    def training_values(self) -> np.ndarray | None:
        """Ones (counting reads nothing but ``seen_``); None when scores sum values."""
        return np.ones(self.seen_.nnz, np.float32) if self.config.by == "count" else None

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), self.n_items_))

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self.item_scores_

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.item_scores_[items]

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_scores_ = arrays["item_scores"]

"""``Recommendations``: top-K lists for a batch of users, as arrays that carry their IDs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trustrec.data.ids import IdIndex
from trustrec.errors import DataError

#: Index used in ``Recommendations.items`` where a list has fewer than ``k`` items
#: (e.g. the user has seen almost everything); such slots have score ``-inf``.
PAD = -1


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Ranked lists: ``items[r, j]`` is the ``j``-th item recommended to ``users[r]``.

    ``users`` (n,) and ``items`` (n, k) are int32 indices into ``user_index`` and
    ``item_index``; ``scores`` (n, k) float32 are sorted descending per row. Slots holding
    :data:`PAD` are empty (fewer than ``k`` candidates were available).
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    user_index: IdIndex
    item_index: IdIndex

    def __post_init__(self) -> None:
        if self.items.ndim != 2 or self.items.shape != self.scores.shape:
            raise DataError(f"Recommendations: items {self.items.shape} and scores "
                            f"{self.scores.shape} must be equal 2-D shapes")
        if self.items.shape[0] != self.users.shape[0]:
            raise DataError("Recommendations: one row of items per user expected")

    @property
    def k(self) -> int:
        """List length (including padded slots)."""
        return int(self.items.shape[1])

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """Boolean (n, k) mask of real (non-padded) slots."""
        return self.items != PAD

    def to_frame(self) -> pd.DataFrame:
        """Long table ``user_id, item_id, rank, score`` (rank from 1; padded slots dropped)."""
        n, k = self.items.shape
        valid = self.valid.ravel()
        rows = np.repeat(np.arange(n), k)[valid]
        items = self.items.ravel()[valid]
        return pd.DataFrame({
            "user_id": self.user_index.to_external(self.users[rows]),
            "item_id": self.item_index.to_external(items),
            "rank": np.tile(np.arange(1, k + 1), n)[valid],
            "score": self.scores.ravel()[valid],
        })

    @staticmethod
    def concat(parts: list[Recommendations]) -> Recommendations:
        """Stack several batches (same indices and ``k``) into one."""
        if not parts:
            raise DataError("Recommendations.concat: nothing to concatenate")
        first = parts[0]
        return Recommendations(
            users=np.concatenate([p.users for p in parts]),
            items=np.concatenate([p.items for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            user_index=first.user_index,
            item_index=first.item_index,
        )

"""A tiny in-group holdout on the planted data, shared by the item-item model tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.conftest import planted_frame
from trustrec.data import Dataset
from trustrec.models import create_model

N_GROUPS, BLOCK = 4, 10  # planted_frame's defaults: 40 items in 4 blocks of 10


def item_groups(data: Dataset) -> np.ndarray:
    """Planted taste group of every item index (external IDs are ``i<number>``)."""
    numbers = np.array([int(str(i)[1:]) for i in data.item_index.ids])
    return numbers // BLOCK


def in_group_hit_rate(model_name: str, params: dict[str, Any] | None = None,
                      k: int = 3) -> float:
    """Share of users whose held-out liked (in-group) item is in their top-``k``.

    Each user's first liked interaction of :func:`planted_frame` is held out; the model is
    fitted on the rest with training items excluded from the lists.
    """
    frame = planted_frame()
    data = Dataset.from_frame(frame, name="planted")
    test = np.zeros(len(frame), dtype=bool)
    test[frame.groupby("user_id", sort=False).head(1).index] = True
    train = data.filter(~test)
    model = create_model(model_name, params, seed=0).fit(train)
    users = np.asarray(data.user)[test]
    recs = model.recommend(users, k=k)
    return float(np.mean((recs.items == np.asarray(data.item)[test][:, None]).any(axis=1)))

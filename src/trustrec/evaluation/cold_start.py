"""The cold-start item protocol: rank only the items that the training data never saw.

:func:`cold_start` fits each model on ``split.train`` (e.g. from
:func:`~trustrec.data.split.cold_item_holdout`), ranks the items only ``split.test`` holds
for every test user and scores the lists next to seeded random lists over the same items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustrec.data.split import Split
from trustrec.evaluation.metrics import ranking_metrics


@dataclass(frozen=True)
class ColdStartResult:
    """Mean NDCG@k and Recall@k per system (``random`` first) over ``n_users`` users, each
    ranking only the ``n_cold`` held-out items."""

    k: int
    n_cold: int
    n_users: int
    ndcg: dict[str, float]
    recall: dict[str, float]


def cold_start(split: Split, models: Mapping[str, Any], k: int = 10,
               seed: int = 0) -> ColdStartResult:
    """Fit each model on ``split.train``; rank the items that only ``split.test`` holds for
    every test user; score the lists, next to seeded random lists over the same items."""
    cold = np.setdiff1d(np.unique(split.test.item), np.unique(split.train.item))
    users = np.unique(split.test.user)
    relevant = split.test.csr[users]
    order = np.argsort(np.random.default_rng(seed).random((len(users), len(cold))), axis=1)
    lists = {"random": cold[order[:, :k]]}
    for name, model in models.items():
        lists[name] = model.fit(split.train).recommend(users, k, candidates=cold).items
    metrics = {name: ranking_metrics(items, relevant, k) for name, items in lists.items()}
    return ColdStartResult(k, len(cold), len(users),
                           {n: float(m[f"ndcg@{k}"].mean()) for n, m in metrics.items()},
                           {n: float(m[f"recall@{k}"].mean()) for n, m in metrics.items()})

"""Do the cited reasons matter? Removing the top-cited history item should lower the
recommended item's score more than removing a random history item."""

from __future__ import annotations

from typing import Any

import numpy as np

from trustrec.errors import ModelError
from trustrec.explain.attribution import history_contributions
from trustrec.models.base import Recommender


def explanation_fidelity(model: Recommender, users: np.ndarray | None = None,
                         n_users: int = 200, seed: int = 0) -> dict[str, Any]:
    """Share of users for whom dropping the top-cited history item from their history lowers
    the score of their first recommendation more than dropping a random other history item.

    Scores come from ``model.score_history`` (no retraining), so the model must support it.
    Users with fewer than two history items or no attribution are skipped. ``users``
    defaults to ``n_users`` users drawn with ``seed``. Returns ``{"rate", "n", "ties"}``.
    """
    model._check_fitted()
    rng = np.random.default_rng(seed)
    lengths = model.history_lengths
    if users is None:
        pool = np.flatnonzero(lengths >= 2)
        users = rng.choice(pool, size=min(n_users, len(pool)), replace=False) if len(pool) \
            else pool
    users = np.asarray(users, dtype=np.int32)
    top_items = model.recommend(users, k=1).items[:, 0] if len(users) else users
    wins = ties = n = 0
    for user, item in zip(users.tolist(), top_items.tolist(), strict=True):  # one per user
        found = history_contributions(model, user, item)
        if found is None or len(found[0]) < 2 or item < 0:
            continue
        history, weights, _ = found
        values = model.input_[user].data if hasattr(model, "input_") else None
        top = int(np.argmax(weights))
        other = int(rng.choice(np.delete(np.arange(len(history)), top)))
        drops = []
        for removed in (top, other):
            keep = np.delete(np.arange(len(history)), removed)
            reduced = model.score_history(history[keep],
                                          None if values is None else values[keep])
            drops.append(-float(reduced[item]))
        n += 1
        wins += drops[0] > drops[1] + 1e-9
        ties += abs(drops[0] - drops[1]) <= 1e-9
    if n == 0:
        raise ModelError(f"explanation_fidelity: no user of model '{model.name}' has a history "
                         "of two or more items with an attribution")
    return {"rate": wins / n, "n": n, "ties": ties}

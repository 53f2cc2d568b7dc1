"""Online state: each user's recent events from the store, overlaid on the served model.

A new event changes the user's next list at once, without retraining: the user's training
history plus their stored events go through :meth:`Recommender.score_history` (exact for
item-based and text models, closed-form fold-in for ALS, the session models' own encoder).
A disliked item (the latest event on it is a ``dislike``) leaves the history and is never
recommended. Models that cannot score a given history fall back to their trained list and
say so (``online=False`` and a ``note``). The store is read on every request, so all
worker processes see an event as soon as it is committed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustrec.errors import ModelError
from trustrec.models.base import Recommender
from trustrec.models.topk import top_k
from trustrec.serve.store import EVENT_TYPES, EventStore


@dataclass(frozen=True)
class History:
    """A user's history as item indices with values, plus the items they disliked."""

    items: np.ndarray
    values: np.ndarray
    disliked: np.ndarray
    n_events: int
    n_unknown_items: int


@dataclass(frozen=True)
class UserScores:
    """Scores of every item for one user (``-inf`` where not recommendable) and where they
    came from: ``source`` is ``model`` (trained user), ``history`` (events overlaid),
    ``popular`` (no history at all) or ``trained`` (the model cannot use the events)."""

    user_id: str
    scores: np.ndarray
    history: History
    online: bool
    source: str
    note: str | None


def user_history(model: Recommender, store: EventStore, user_id: str, limit: int) -> History:
    """Training items of ``user_id`` (value 1) followed by their latest ``limit`` events."""
    events = store.user_events(user_id, limit)
    user = model.user_index_.get(user_id)
    seen = model.seen_
    trained = seen.indices[seen.indptr[user]:seen.indptr[user + 1]] if user is not None \
        else np.empty(0, np.int32)
    if not len(events):
        return History(items=trained.astype(np.int32), values=np.ones(len(trained), np.float32),
                       disliked=np.empty(0, np.int32), n_events=0, n_unknown_items=0)
    idx, known = model.item_index_.lookup_known(events.item_id)
    item, kind, value = idx[known], events.type[known], events.value[known]
    # an item's latest event decides whether it is disliked
    last = len(item) - 1 - np.unique(item[::-1], return_index=True)[1]
    disliked = np.unique(item[last[kind[last] == "dislike"]]).astype(np.int32)
    positive = np.isin(kind, [t for t, good in EVENT_TYPES.items() if good])
    items = np.concatenate([trained, item[positive]]).astype(np.int32)
    values = np.concatenate([np.ones(len(trained), np.float32), value[positive]])
    keep = ~np.isin(items, disliked)
    return History(items=items[keep], values=values[keep], disliked=disliked,
                   n_events=int(known.sum()), n_unknown_items=int((~known).sum()))


def _masked(scores: np.ndarray, history: History, exclude_seen: bool) -> np.ndarray:
    row = np.nan_to_num(np.array(scores, dtype=np.float32), nan=-np.inf)
    if exclude_seen:
        row[history.items] = -np.inf
    row[history.disliked] = -np.inf
    return row


def top_items(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (item indices, scores) of a score row, recommendable ones only."""
    items, top = top_k(scores[None, :], k)
    valid = items[0] >= 0
    return items[0, valid], top[0, valid]


class OnlineRecommender:
    """Recommendations that follow each user's stored events (see the module docstring)."""

    def __init__(self, store: EventStore, history_limit: int = 500) -> None:
        self.store, self.history_limit = store, history_limit

    def user_scores(self, model: Recommender, user_id: str,
                    exclude_seen: bool = True) -> UserScores:
        """Scores of ``model`` for ``user_id`` with their latest events taken into account."""
        history = user_history(model, self.store, user_id, self.history_limit)
        user = model.user_index_.get(user_id)
        online, note = True, None
        if history.n_events == 0 and user is not None:
            raw, source = model.score([user])[0], "model"
        elif not len(history.items):
            raw, source = model.item_popularity_, "popular"
        else:
            try:
                raw, source = model.score_history(history.items, history.values), "history"
            except ModelError:
                raw = model.score([user])[0] if user is not None else model.item_popularity_
                online, source = False, "trained"
                note = (f"model '{model.name}' cannot use new events without retraining; "
                        "serving its trained list (minus disliked items)")
        return UserScores(user_id=user_id, scores=_masked(raw, history, exclude_seen),
                          history=history, online=online, source=source, note=note)

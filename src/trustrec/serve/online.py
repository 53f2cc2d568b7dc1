"""Online state: each user's recent events from the store, overlaid on the served model.

A new event changes the user's next list at once, without retraining: the user's training
history plus their stored events go through :meth:`Recommender.score_history` (exact for
item-based and text models, closed-form fold-in for ALS, the session models' own encoder).
A disliked item (the latest event on it, over the user's whole history, is a ``dislike``)
leaves the history and is never recommended. Models that cannot score a given history fall
back to their trained list and say so (``online=False`` and a ``note``). A user with a
recorded erasure is never scored from the model's rows for them, even while the model still
holds them. Every request asks the store for the user's :class:`UserVersion` (one small
query), so all worker processes see an event or an erasure as soon as it is committed; the
history and the model's scores are recomputed only when that version (or the model)
changed: an in-memory cache per process, bounded in users and bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from trustrec.errors import ModelError
from trustrec.models.base import Recommender
from trustrec.models.topk import top_k_row
from trustrec.serve.store import EVENT_TYPES, NO_EVENTS, EventStore, UserVersion

#: most users whose history and scores one process keeps in memory …
CACHED_USERS = 8192
#: … and at most this many bytes of score rows
CACHE_BYTES = 64 << 20
_POSITIVE = [t for t, good in EVENT_TYPES.items() if good]


@dataclass(frozen=True)
class History:
    """A user's history as item indices with values, plus the items they disliked; ``user``
    is their row in the model, None when the model does not know them or they were erased."""

    items: np.ndarray
    values: np.ndarray
    disliked: np.ndarray
    n_events: int
    n_unknown_items: int
    user: int | None


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


def user_history(model: Recommender, store: EventStore | None, user_id: str, limit: int,
                 erased: bool = False) -> History:
    """Training items of ``user_id`` (value 1; none when ``erased``) followed by their latest
    ``limit`` events from ``store`` (None: the user has none), minus the items they dislike."""
    events = store.user_events(user_id, limit) if store is not None else NO_EVENTS
    user = None if erased else model.user_index_.get(user_id)
    seen = model.seen_
    trained = seen.indices[seen.indptr[user]:seen.indptr[user + 1]] if user is not None \
        else np.empty(0, np.int32)
    idx, known = model.item_index_.lookup_known(events.item_id)
    item, kind, value = idx[known], events.type[known], events.value[known]
    bad, bad_known = model.item_index_.lookup_known(events.disliked)
    disliked = np.unique(bad[bad_known]).astype(np.int32)
    positive = np.isin(kind, _POSITIVE)
    items = np.concatenate([trained, item[positive]]).astype(np.int32)
    values = np.concatenate([np.ones(len(trained), np.float32), value[positive]])
    keep = ~np.isin(items, disliked)
    return History(items=items[keep], values=values[keep], disliked=disliked,
                   n_events=int(known.sum()), n_unknown_items=int((~known).sum()), user=user)


def _masked(raw: np.ndarray, history: History, exclude_seen: bool) -> np.ndarray:
    row = raw.copy()
    if exclude_seen:
        row[history.items] = -np.inf
    row[history.disliked] = -np.inf
    return row


def top_items(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (item indices, scores) of a score row, recommendable ones only."""
    items, top = top_k_row(scores, k)
    valid = items >= 0
    return items[valid], top[valid]


@dataclass(frozen=True)
class _Cached:
    """One user's history and unmasked scores for one model, at one stored version."""

    version: UserVersion
    model: Recommender
    history: History
    raw: np.ndarray
    online: bool
    source: str
    note: str | None


def _scores(user_id: str, entry: _Cached, exclude_seen: bool) -> UserScores:
    return UserScores(user_id=user_id, scores=_masked(entry.raw, entry.history, exclude_seen),
                      history=entry.history, online=entry.online, source=entry.source,
                      note=entry.note)


class OnlineRecommender:
    """Recommendations that follow each user's stored events (see the module docstring)."""

    def __init__(self, store: EventStore, history_limit: int = 500) -> None:
        self.store, self.history_limit = store, history_limit
        self._model: Recommender | None = None
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._capacity = 0
        self._cache_lock = threading.Lock()

    def _serve(self, model: Recommender) -> None:
        """Size the cache for ``model`` and empty it when the served model changed (its
        entries index the old model's items)."""
        if self._model is not model:
            with self._cache_lock:
                self._model = model
                self._cache.clear()
                self._capacity = int(np.clip(CACHE_BYTES // (4 * max(model.n_items_, 1)),
                                             16, CACHED_USERS))

    def user_scores(self, model: Recommender, user_id: str,
                    exclude_seen: bool = True) -> UserScores:
        """Scores of ``model`` for ``user_id`` with their latest events taken into account;
        recomputed only when the user's stored version changed (asked on every call)."""
        version = self.store.user_version(user_id)
        self._serve(model)
        entry = self._hit(model, user_id, version)
        if entry is None:
            entry = self._compute(model, user_id, version)
            with self._cache_lock:
                self._cache[user_id] = entry
                self._cache.move_to_end(user_id)
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        return _scores(user_id, entry, exclude_seen)

    def cached_scores(self, model: Recommender, user_id: str,
                      exclude_seen: bool = True) -> UserScores | None:
        """:meth:`user_scores` if the user is cached at their current stored version (no
        model work: one small query and a copy), else None."""
        entry = self._hit(model, user_id, self.store.user_version(user_id))
        return None if entry is None else _scores(user_id, entry, exclude_seen)

    def _hit(self, model: Recommender, user_id: str, version: UserVersion) -> _Cached | None:
        with self._cache_lock:
            entry = self._cache.get(user_id)
            if entry is None or entry.version != version or entry.model is not model:
                return None
            self._cache.move_to_end(user_id)
            return entry

    def _compute(self, model: Recommender, user_id: str, version: UserVersion) -> _Cached:
        history = user_history(model, self.store if version.n_events else None, user_id,
                               self.history_limit, version.erased)
        user = history.user
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
        raw = np.nan_to_num(np.array(raw, dtype=np.float32), nan=-np.inf)
        raw.flags.writeable = False
        return _Cached(version, model, history, raw, online, source, note)

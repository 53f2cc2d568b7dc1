"""One reason for each recommendation: :func:`explain_external` and
:func:`explain_recommendations`, the entry points the service calls.

An :class:`Explanation` names its ``kind``:

* ``collaborative`` — the user's own past items contributing most to the score
  (:mod:`trustrec.explain.attribution`), plus the genres and words the item shares with them;
* ``content`` — text models: the past items whose text is closest, plus shared genres/words;
* ``linear`` — the ``linear`` model's largest per-feature contributions;
* ``popularity`` — the popularity model, users without history, and models without an
  attribution: how many users chose the item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trustrec.errors import ConfigError
from trustrec.explain.attribution import CONTENT, history_contributions
from trustrec.explain.items import ItemInfo
from trustrec.models.base import Recommender
from trustrec.models.external import recommend_external
from trustrec.models.linear import LinearModel
from trustrec.models.popularity import Popularity


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (for JSON)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Explanation:
    """Why ``item_id`` (called ``title``) is recommended to ``user_id``: the model's
    ``score``, the ``kind`` of reason, a human-readable ``text`` and the structured
    ``reasons``: dicts with ``type``
    ('item', 'genre', 'word', 'feature' or 'popularity'), ``item_id`` (type 'item') or
    ``feature``, ``title`` and ``weight`` (largest first within a type)."""

    user_id: Any
    item_id: Any
    score: float
    kind: str
    text: str
    reasons: tuple[dict[str, Any], ...]
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"user_id": _plain(self.user_id), "item_id": _plain(self.item_id),
                "title": self.title, "score": float(self.score), "kind": self.kind,
                "text": self.text,
                "reasons": [{k: _plain(v) for k, v in r.items()} for r in self.reasons]}


def _info(model: Recommender, items: ItemInfo | pd.DataFrame | None) -> ItemInfo:
    if isinstance(items, ItemInfo):
        return items
    if items is None:
        return ItemInfo.from_model(model)
    return ItemInfo.from_table(items, model.item_index_)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _shared(info: ItemInfo, history: np.ndarray, item: int, k: int) -> list[dict[str, Any]]:
    """Genres and words of ``item`` that the history shares, weighted by the share of the
    history carrying them (words also by rarity, ``log(n_items / df)``)."""
    reasons: list[dict[str, Any]] = []
    if not len(history):
        return reasons
    for kind, matrix, names in (("genre", info.genres, info.genre_names),
                                ("word", info.words, info.word_names)):
        if not names:
            continue
        present = matrix[item].indices
        share = np.asarray(matrix[history][:, present].sum(axis=0)).ravel() / len(history)
        if kind == "word":
            df = np.asarray(matrix[:, present].sum(axis=0)).ravel()
            share = share * np.log(matrix.shape[0] / np.maximum(df, 1))
        order = np.argsort(-share, kind="stable")[:k]
        reasons += [{"type": kind, "feature": names[present[j]], "title": names[present[j]],
                     "weight": float(share[j])} for j in order if share[j] > 0]
    return reasons


def _history_reasons(model: Recommender, info: ItemInfo, user: int, item: int,
                     k: int) -> tuple[str, list[dict[str, Any]], np.ndarray] | None:
    found = history_contributions(model, user, item)
    if found is None or not len(found[0]):
        return None
    history, weights, kind = found
    order = np.argsort(-weights, kind="stable")[:k]
    order = order[weights[order] > 0]
    ids = model.item_index_.to_external(history[order])
    reasons = [{"type": "item", "item_id": _plain(i), "title": str(info.titles[j]),
                "weight": float(w)}
               for i, j, w in zip(ids, history[order], weights[order], strict=True)]
    return kind, reasons, history


def _popularity(model: Recommender, info: ItemInfo, item: int) -> list[dict[str, Any]]:
    count = int(model.item_popularity_[item])
    return [{"type": "popularity", "feature": "popularity", "title": str(info.titles[item]),
             "weight": float(count)}]


def _linear(model: LinearModel, user: int, item: int, k: int) -> list[dict[str, Any]]:
    return [{"type": "feature", "feature": name, "title": name.replace("_", " "),
             "weight": value} for name, value in model.explain(user, item)[:k]]


def _text(kind: str, reasons: list[dict[str, Any]], verb: str, title: str) -> str:
    items = [r["title"] for r in reasons if r["type"] == "item"]
    features = [r["title"] for r in reasons if r["type"] in ("genre", "word")]
    if kind == "popularity":
        count = int(reasons[0]["weight"])
        return f"Popular: {count} user{'s' if count != 1 else ''} chose {title}"
    if kind == "linear":
        parts = [f"{r['title']} ({r['weight']:+.2f})" for r in reasons]
        return "Because of " + _join(parts) if parts else f"Scored by the linear model: {title}"
    head = ("Similar to " + _join(items) + f" you {verb}") if kind == CONTENT and items else \
        (f"Because you {verb} " + _join(items)) if items else f"Recommended: {title}"
    return head + ("; shares " + ", ".join(features) if features else "")


def explain_index(model: Recommender, user: int, item: int, k_reasons: int = 3,
                  items: ItemInfo | pd.DataFrame | None = None) -> tuple[str, str,
                                                                       list[dict[str, Any]]]:
    """``(kind, text, reasons)`` for user index ``user`` and item index ``item``."""
    if k_reasons < 1:
        raise ConfigError(f"explain: k_reasons must be ≥ 1, got {k_reasons}")
    info = _info(model, items)
    verb = "chose" if model.train_mean_ == 1.0 else "rated"
    title = str(info.titles[item])
    if isinstance(model, LinearModel):
        reasons = _linear(model, user, item, k_reasons)
        return "linear", _text("linear", reasons, verb, title), reasons
    found = None if isinstance(model, Popularity) else \
        _history_reasons(model, info, user, item, k_reasons)
    if found is None:
        reasons = _popularity(model, info, item)
        return "popularity", _text("popularity", reasons, verb, title), reasons
    kind, reasons, history = found
    reasons += _shared(info, history, item, k_reasons)
    return kind, _text(kind, reasons, verb, title), reasons


def explain_external(model: Recommender, user_id: object, item_id: object, k_reasons: int = 3,
                     *, items: ItemInfo | pd.DataFrame | None = None) -> Explanation:
    """Explain the score of ``item_id`` for ``user_id`` (external IDs).

    ``items``: an item table or a prebuilt :class:`ItemInfo` for titles, genres and words
    (default: what the model itself stores). Unknown IDs raise ``UnknownIdError``.
    """
    model._check_fitted()
    user = int(model.user_index_.lookup([user_id], what="user")[0])
    item = int(model.item_index_.lookup([item_id], what="item")[0])
    score = float(model.score([user], items=[item])[0, 0])
    info = _info(model, items)
    kind, text, reasons = explain_index(model, user, item, k_reasons, info)
    return Explanation(_plain(model.user_index_.ids[user]), _plain(model.item_index_.ids[item]),
                       score, kind, text, tuple(reasons), title=str(info.titles[item]))


def explain_recommendations(model: Recommender, user_id: object, k: int = 10,
                            k_reasons: int = 3, *,
                            items: ItemInfo | pd.DataFrame | None = None) -> list[Explanation]:
    """The user's top-``k`` recommendations (seen items excluded), each explained."""
    model._check_fitted()
    model.user_index_.lookup([user_id], what="user")
    info = _info(model, items)
    frame = recommend_external(model, [user_id], k=k).frame
    return [explain_external(model, user_id, item_id, k_reasons, items=info)
            for item_id in frame["item_id"].tolist()]

"""Calling a fitted model with external IDs, with explicit handling of unknown ones.

Unknown users get the most popular unseen items (a per-user fallback, counted);
unknown items in a pair get the training mean (rating models) or the lowest score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trustrec.data.recommendations import Recommendations
from trustrec.errors import DataError
from trustrec.models.base import Recommender
from trustrec.models.topk import top_k


@dataclass(frozen=True)
class ExternalRecommendations:
    """Recommendations as a ``user_id, item_id, rank, score`` frame plus fallback counts."""

    frame: pd.DataFrame
    n_users: int
    n_unknown_users: int
    n_unknown_candidates: int


def recommend_external(
    model: Recommender,
    user_ids: Any,
    k: int = 10,
    exclude_seen: bool = True,
    candidate_ids: Any | None = None,
) -> ExternalRecommendations:
    """Top-``k`` lists for external user IDs, in the order given.

    Users the model does not know receive the ``k`` most popular candidate items (a
    fallback, counted in ``n_unknown_users``). Unknown candidate items are ignored
    and counted. Output IDs have the same type as the training IDs.
    """
    query = np.asarray(user_ids).reshape(-1)
    idx, known = model.user_index_.lookup_known(query)
    candidates = None
    n_unknown_candidates = 0
    if candidate_ids is not None:
        cand_idx, cand_known = model.item_index_.lookup_known(np.asarray(candidate_ids))
        n_unknown_candidates = int((~cand_known).sum())
        candidates = np.unique(cand_idx[cand_known])
        if len(candidates) == 0:
            raise DataError("none of the candidate items is known to the model")
    recs = model.recommend(idx[known], k=k, exclude_seen=exclude_seen, candidates=candidates)
    frames = []
    known_frame = recs.to_frame()
    known_frame["user_id"] = np.repeat(query[known], (recs.valid).sum(axis=1))
    known_frame["_order"] = np.repeat(np.flatnonzero(known), recs.valid.sum(axis=1))
    frames.append(known_frame)
    n_unknown = int((~known).sum())
    if n_unknown:
        pop = model.item_popularity_.astype(np.float32)[None, :].copy()
        if candidates is not None:
            keep = np.full(model.n_items_, -np.inf, dtype=np.float32)
            keep[candidates] = 0.0
            pop = pop + keep
        items, scores = top_k(pop, k)
        fallback = Recommendations(
            users=np.zeros(1, np.int32), items=items, scores=scores,
            user_index=model.user_index_, item_index=model.item_index_,
        ).to_frame()
        unknown_pos = np.flatnonzero(~known)
        rep = pd.concat([fallback] * n_unknown, ignore_index=True)
        rep["user_id"] = np.repeat(query[unknown_pos], len(fallback))
        rep["_order"] = np.repeat(unknown_pos, len(fallback))
        frames.append(rep)
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(["_order", "rank"], kind="stable").drop(columns="_order")
    return ExternalRecommendations(frame=frame.reset_index(drop=True), n_users=len(query),
                                   n_unknown_users=n_unknown,
                                   n_unknown_candidates=n_unknown_candidates)


@dataclass(frozen=True)
class ExternalPredictions:
    """Predictions aligned with the input pairs, and how many pairs used the fallback."""

    prediction: np.ndarray
    n_unknown: int


def predict_external(model: Recommender, user_ids: Any, item_ids: Any) -> ExternalPredictions:
    """Predict each ``(user_ids[i], item_ids[i])``; pairs with an unknown ID get a fallback.

    The fallback is the model's own estimate from what it knows where it has one (the
    biased rating models ``baseline`` and ``mf``: the global mean plus the bias of the known
    user or item, as Surprise predicts), else the training mean for rating models (the best
    constant estimate) and the model's lowest score otherwise (an unknown item is never
    preferred).
    """
    u, u_known = model.user_index_.lookup_known(user_ids)
    i, i_known = model.item_index_.lookup_known(item_ids)
    both = u_known & i_known
    out = np.empty(len(u), dtype=np.float32)
    if both.any():
        out[both] = model.predict(u[both], i[both])
    if (~both).any():
        partial = model._predict_partial(u[~both], i[~both], u_known[~both], i_known[~both])
        if partial is not None:
            fill = partial
        elif model.predicts_ratings:
            fill = model.train_mean_
        else:
            fill = float(out[both].min()) if both.any() else 0.0
        out[~both] = fill
    return ExternalPredictions(prediction=out, n_unknown=int((~both).sum()))


def recommend_history_external(model: Recommender, item_ids: Any, k: int = 10,
                               values: Any | None = None,
                               exclude_seen: bool = True) -> pd.DataFrame:
    """Top-``k`` items (``item_id, rank, score``) for a recent history of external item IDs,
    oldest first, without retraining (see :meth:`Recommender.recommend_history`).

    ``values`` (ratings or weights, one per item) are optional. Item IDs the model does not
    know are skipped and counted in ``frame.attrs["n_unknown_items"]``; when none is known
    the list is the most popular items (``frame.attrs["fallback"] == "popularity"``, else
    None). ``exclude_seen`` drops the history's items. Rank starts at 1.
    """
    query = np.asarray(item_ids).reshape(-1)
    idx, known = model.item_index_.lookup_known(query)
    vals = None
    if values is not None:
        vals = np.asarray(values, dtype=np.float32).reshape(-1)
        if vals.shape != query.shape:
            raise DataError(f"history values: {len(vals)} given for {len(query)} item IDs; "
                            "expected one value per item")
        vals = vals[known]
    items, scores = model.recommend_history(idx[known], k=k, values=vals,
                                            exclude_seen=exclude_seen)
    keep = items >= 0
    frame = pd.DataFrame({"item_id": model.item_index_.to_external(items[keep]),
                          "rank": np.arange(1, int(keep.sum()) + 1),
                          "score": scores[keep]})
    frame.attrs["n_unknown_items"] = int((~known).sum())
    frame.attrs["fallback"] = None if known.any() else "popularity"
    return frame

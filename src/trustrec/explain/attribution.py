"""How much each item of a user's history contributes to the score of one item.

* item-item models (``itemknn``, ``ease``): ``s_ui = Σ_j X_uj W_ji``, so item j contributes
  ``X_uj W_ji`` — exact;
* ``hybrid``: ``s_ui = Σ_j X_uj [(1 − b) B_ji + b · T_j · (TW)_i]`` — exact;
* ``als``: the fold-in decomposition of Hu, Koren & Volinsky (2008): the user vector solves
  ``A x = Σ_j c_j y_j``, so ``s_ui = Σ_j c_j y_iᵀ A⁻¹ y_j`` — exact, because every trained
  user vector is that user step of its own history (local fit, Spark's count-scaled
  penalty, federated training; values kept when ``implicit=false``);
* other factor models (``bpr``, ``mf``): item-item similarity in factor space ``y_i · y_j``;
* text models (``content``, ``linear``): cosine of the items' text vectors;
* any other model that scores a history given at call time (``score_history``, e.g. the
  sequential ``sasrec``): leave-one-out, ``s(h) − s(h without j)`` over the
  :data:`MAX_LEAVE_ONE_OUT` most recent items (time order from ``sequences_`` when the
  model keeps one).

Returns ``None`` for models with none of these (explanations fall back to popularity).
:func:`exact_credits` says for which models the contributions add up to the score (tested
as a contract over every registered model).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trustrec.errors import ModelError
from trustrec.models.als import Als
from trustrec.models.base import Recommender
from trustrec.models.content import TextVectorModel
from trustrec.models.factor import FactorRecommender
from trustrec.models.hybrid import Hybrid
from trustrec.models.itemitem import ItemItemRecommender

#: What each model family's history attributions are ('collaborative' or 'content').
COLLABORATIVE, CONTENT = "collaborative", "content"
#: History items scored without themselves by the leave-one-out attribution.
MAX_LEAVE_ONE_OUT = 50


def _column(weights: np.ndarray | sp.spmatrix, rows: np.ndarray, item: int) -> np.ndarray:
    block = weights[rows][:, [item]]
    return (block.toarray() if sp.issparse(block) else np.asarray(block)).ravel()


def exact_credits(model: Recommender | type[Recommender]) -> bool:
    """Whether :func:`history_contributions` of ``model`` (a model or its class) add up to
    its score of the item for every user with a training history (item-item models —
    ``itemknn``, ``ease``, ``dp_ease``, ``hybrid`` — and ``als``)."""
    cls = model if isinstance(model, type) else type(model)
    return issubclass(cls, (ItemItemRecommender, Als))


def history_contributions(model: Recommender, user: int,
                          item: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """``(history item indices, contribution of each to the score of item, kind)``
    for user index ``user``, or None when the model has no history attribution."""
    if isinstance(model, ItemItemRecommender):
        x = model.input_[user]
        history, values = x.indices, x.data.astype(np.float64)
        if isinstance(model, Hybrid):
            share = model.config.content_blend
            content = model.features_[history].astype(np.float64) @ \
                model.content_items_[item].astype(np.float64)
            weights = (1.0 - share) * _column(model.weights_, history, item) + share * content
        else:
            weights = _column(model.weights_, history, item)
        return history, values * weights, COLLABORATIVE
    history = model.seen_[user].indices
    if isinstance(model, Als):
        indices, credits = model.fold_in_credits(user, item)
        out = np.zeros(len(history))
        out[np.searchsorted(history, indices)] = credits
        return history, out, COLLABORATIVE
    if isinstance(model, FactorRecommender):
        y = model.item_factors_.astype(np.float64)
        return history, y[history] @ y[item], COLLABORATIVE
    if isinstance(model, TextVectorModel):
        v = model.item_vectors_.astype(np.float64)
        return history, v[history] @ v[item], CONTENT
    return _leave_one_out(model, user, item)


def _leave_one_out(model: Recommender, user: int,
                   item: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Score drop when each recent history item is left out (None if the model cannot score
    a given history)."""
    sequences = getattr(model, "sequences_", None)  # time-ordered tokens (item + 1), 0 = pad
    if sequences is not None:
        history = np.asarray(sequences[user], dtype=np.int64)
        history = history[history > 0] - 1
    else:
        history = model.seen_[user].indices
    history = history[-MAX_LEAVE_ONE_OUT:]
    try:
        full = float(model.score_history(history)[item])
    except ModelError:
        return None
    drops = np.array([full - float(model.score_history(np.delete(history, j))[item])
                      for j in range(len(history))])  # one model call per cited candidate
    return history, drops, COLLABORATIVE


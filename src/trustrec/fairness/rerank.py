"""Mitigation re-rankers: re-order any model's top-N candidates into fairer top-k lists.

A re-ranker is fitted on the training data (what it needs to know about users and items),
then :meth:`Reranker.rerank` turns candidate lists (the model's top ``N`` unseen items per
user, scores included) into ``k``-item lists. Selection is greedy, one position at a time,
vectorised over users: at each step every user takes the candidate maximising

    ``(1 − weight) · relevance + weight · bonus(candidate | list so far)``

where ``relevance`` is the model's score min-max scaled to [0, 1] over the user's
candidates and ``weight`` in [0, 1] is the one trade-off knob (0 keeps the model's order).
Since only candidates are re-ordered, a re-ranker never adds an item the model excluded
(e.g. seen ones) and keeps ``k`` items whenever the model offered ``k``.

* :class:`MMR` — diversity (Carbonell & Goldstein 1998): bonus = −max similarity to the
  items already chosen (cosine of item category or feature vectors).
* :class:`Calibrated` — Steck (2018): bonus = −KL(user's category mix ‖ list's mix).
* :class:`XQuadLongTail` — popularity de-biasing, smooth xQuAD over {short head, long tail}
  (Abdollahpouri et al. 2019): bonus = P(candidate's category | user) × (1 − that
  category's share of the list so far).
* :class:`GroupBoost` — user-group fairness: for users of the ``target`` groups (the ones a
  measured audit found worse served), bonus = how much more the user's group likes the
  item than everyone does (log lift of its within-group popularity, scaled to [0, 1]).

:class:`RerankedModel` wraps a model and a re-ranker into something with ``recommend``, so
every evaluation and audit works on it; :func:`sweep` traces the accuracy/fairness frontier.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from trustrec.data import PAD, Dataset, Recommendations
from trustrec.errors import ConfigError, DataError, ModelError
from trustrec.evaluation.protocol import RankingModel
from trustrec.fairness.audit import GroupAudit
from trustrec.fairness.exposure import (
    CALIBRATION_ALPHA,
    HEAD_FRACTION,
    binary_history,
    item_categories,
    kl_divergence,
    long_tail_mask,
)
from trustrec.fairness.groups import UserGroups

#: Users re-ranked at once (bounds the (users × candidates × features) work arrays).
USER_BLOCK = 512


def scaled_relevance(scores: np.ndarray) -> np.ndarray:
    """Scores min-max scaled to [0, 1] per row over the finite entries (-inf stays -inf;
    a row of equal scores becomes all 1)."""
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    lo = np.where(finite, s, np.inf).min(axis=1, keepdims=True)
    hi = np.where(finite, s, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    with np.errstate(invalid="ignore"):
        rel = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(finite, rel, -np.inf)


class Reranker:
    """Base of the greedy re-rankers (see the module docstring); subclasses implement
    :meth:`_fit`, :meth:`_start`, :meth:`_bonus` and, when the bonus depends on the list so
    far, :meth:`_update`."""

    name: ClassVar[str] = "reranker"

    def __init__(self, weight: float = 0.5) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"re-ranker '{self.name}': weight must be in [0, 1], got {weight}")
        self.weight = float(weight)
        self.fitted_ = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight={self.weight:g})"

    def fit(self, train: Dataset) -> Self:
        """Learn what the bonus needs from the training data; returns ``self``."""
        self._fit(train)
        self.fitted_ = True
        return self

    def with_weight(self, weight: float) -> Self:
        """A copy with another ``weight`` sharing the fitted state (for sweeps)."""
        other = copy.copy(self)
        Reranker.__init__(other, weight)
        other.fitted_ = self.fitted_
        return other

    def _fit(self, train: Dataset) -> None:
        raise NotImplementedError

    def _start(self, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        """Per-block state before the first position."""
        return {}

    def _bonus(self, state: dict[str, np.ndarray], users: np.ndarray,
               items: np.ndarray) -> np.ndarray:
        """(n, N) bonus of each candidate given the lists so far."""
        raise NotImplementedError

    def _update(self, state: dict[str, np.ndarray], rows: np.ndarray, picked: np.ndarray,
                items: np.ndarray) -> None:
        """Record that ``rows`` took the candidates at columns ``picked``."""

    def rerank(self, users: np.ndarray, items: np.ndarray, scores: np.ndarray,
               k: int) -> np.ndarray:
        """Top-``k`` item indices (n, k; PAD where fewer candidates) chosen among the
        candidates ``items`` (n, N; PAD allowed) with model ``scores`` (n, N)."""
        if not self.fitted_:
            raise ModelError(f"re-ranker '{self.name}' is not fitted; call fit(train) first")
        items = np.asarray(items)
        if items.ndim != 2 or items.shape != np.shape(scores) or len(users) != len(items):
            raise DataError(f"rerank: items {items.shape}, scores {np.shape(scores)} and "
                            f"{len(users)} users must align")
        if k < 1:
            raise ConfigError(f"rerank: k must be ≥ 1, got {k}")
        out = np.full((len(items), k), PAD, dtype=np.int32)
        for start in range(0, len(items), USER_BLOCK):
            sl = slice(start, start + USER_BLOCK)
            out[sl] = self._rerank_block(np.asarray(users)[sl], items[sl],
                                         np.asarray(scores)[sl], k)
        return out

    def _rerank_block(self, users: np.ndarray, items: np.ndarray, scores: np.ndarray,
                      k: int) -> np.ndarray:
        available = (items != PAD) & np.isfinite(scores)
        rel = scaled_relevance(np.where(available, scores, -np.inf))
        cand = np.where(available, items, 0)
        state = self._start(users, cand)
        rows = np.arange(len(items))
        out = np.full((len(items), k), PAD, dtype=np.int32)
        for pos in range(min(k, items.shape[1])):
            gain = (1.0 - self.weight) * rel
            if self.weight > 0:
                gain = gain + self.weight * self._bonus(state, users, cand)
            gain = np.where(available, gain, -np.inf)
            picked = np.argmax(gain, axis=1)  # ties: the model's earlier candidate
            ok = available[rows, picked]
            out[ok, pos] = cand[rows[ok], picked[ok]]
            available[rows[ok], picked[ok]] = False
            self._update(state, rows[ok], picked[ok], cand)
        return out


def _unit_rows(matrix: sp.spmatrix | np.ndarray) -> np.ndarray:
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, dtype=np.float64)
    norm = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norm, out=np.zeros_like(dense), where=norm > 0)


class MMR(Reranker):
    """Maximal marginal relevance: penalises similarity to the items already in the list.

    Similarity is the cosine of item vectors: ``features`` (n_items × d) if given to the
    constructor, else the item table's ``category_column`` labels (multi-hot).
    """

    name = "mmr"

    def __init__(self, weight: float = 0.3, features: np.ndarray | None = None,
                 category_column: str = "genres") -> None:
        super().__init__(weight)
        self.features = features
        self.category_column = category_column

    def _fit(self, train: Dataset) -> None:
        if self.features is None:
            cats, names = item_categories(train.items, train.n_items, self.category_column)
            if not names:
                raise DataError(f"mmr: the item table has no '{self.category_column}' column; "
                                "pass item features")
            self.unit_ = _unit_rows(cats)
        else:
            if len(self.features) != train.n_items:
                raise DataError(f"mmr: features have {len(self.features)} rows, expected one "
                                f"per item ({train.n_items})")
            self.unit_ = _unit_rows(self.features)

    def _start(self, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        # similarity to an empty list counts as 0 (features are usually non-negative)
        return {"vectors": self.unit_[items], "max_sim": np.zeros(items.shape)}

    def _bonus(self, state: dict[str, np.ndarray], users: np.ndarray,
               items: np.ndarray) -> np.ndarray:
        return -state["max_sim"]

    def _update(self, state: dict[str, np.ndarray], rows: np.ndarray, picked: np.ndarray,
                items: np.ndarray) -> None:
        vecs = state["vectors"]
        sim = np.einsum("nd,nmd->nm", vecs[rows, picked], vecs[rows])
        state["max_sim"][rows] = np.maximum(state["max_sim"][rows], sim)


class _CategoryMix(Reranker):
    """Shared by re-rankers comparing a list's category mix with the user's history mix."""

    def _categories(self, train: Dataset) -> sp.csr_matrix:
        raise NotImplementedError

    def _fit(self, train: Dataset) -> None:
        cats = self._categories(train)
        history = binary_history(train)
        mass = np.asarray((history @ cats).todense())
        total = mass.sum(axis=1, keepdims=True)
        self.user_mix_ = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
        self.item_mix_ = np.asarray(cats.todense())

    def _start(self, users: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        return {"mass": np.zeros((len(users), self.item_mix_.shape[1]))}

    def _update(self, state: dict[str, np.ndarray], rows: np.ndarray, picked: np.ndarray,
                items: np.ndarray) -> None:
        state["mass"][rows] += self.item_mix_[items[rows, picked]]


class Calibrated(_CategoryMix):
    """Calibrated recommendations (Steck 2018): the list's category mix should match the
    user's history; bonus = −KL(p_u ‖ q̃) of the list with the candidate added."""

    name = "calibrated"

    def __init__(self, weight: float = 0.5, category_column: str = "genres",
                 alpha: float = CALIBRATION_ALPHA) -> None:
        super().__init__(weight)
        self.category_column = category_column
        self.alpha = alpha

    def _categories(self, train: Dataset) -> sp.csr_matrix:
        cats, names = item_categories(train.items, train.n_items, self.category_column)
        if not names:
            raise DataError(f"calibrated: the item table has no '{self.category_column}' "
                            "column")
        return cats

    def _bonus(self, state: dict[str, np.ndarray], users: np.ndarray,
               items: np.ndarray) -> np.ndarray:
        mass = state["mass"][:, None, :] + self.item_mix_[items]
        total = mass.sum(axis=2, keepdims=True)
        q = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
        p = np.broadcast_to(self.user_mix_[users][:, None, :], q.shape)
        return -np.nan_to_num(kl_divergence(p, q, self.alpha), nan=0.0)


class XQuadLongTail(_CategoryMix):
    """Smooth xQuAD over {short head, long tail} (Abdollahpouri et al. 2019): a candidate
    earns ``P(c | user)`` (category c's share of the user's history) times ``1 −`` c's share
    of the list so far, so lists drift toward the user's own head/tail mix; the long tail is
    all but the ``head_fraction`` most popular items."""

    name = "xquad"

    def __init__(self, weight: float = 0.5, head_fraction: float = HEAD_FRACTION) -> None:
        super().__init__(weight)
        self.head_fraction = head_fraction

    def _categories(self, train: Dataset) -> sp.csr_matrix:
        tail = long_tail_mask(train.item_counts(), self.head_fraction)
        return sp.csr_matrix(np.column_stack([~tail, tail]).astype(np.float64))

    def _bonus(self, state: dict[str, np.ndarray], users: np.ndarray,
               items: np.ndarray) -> np.ndarray:
        mass = state["mass"]  # (n, 2): head and tail items chosen so far
        total = mass.sum(axis=1, keepdims=True)
        covered = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
        need = self.user_mix_[users] * (1.0 - covered)
        return np.einsum("nc,nmc->nm", need, self.item_mix_[items])


class GroupBoost(Reranker):
    """Boosts, for users of the ``target`` groups only, the items their group likes more
    than everyone: bonus = log lift ``(pop_g(i) + 1) / (n_g + 2)`` over ``(pop(i) + 1) /
    (n + 2)`` scaled to [0, 1] over the items (pop: users with an interaction)."""

    name = "groupboost"

    def __init__(self, groups: UserGroups, target: Sequence[str], weight: float = 0.3) -> None:
        super().__init__(weight)
        unknown = [t for t in target if t not in groups.names]
        if unknown or not target:
            raise ConfigError(f"groupboost: target groups {list(target)} must be non-empty and "
                              f"among {', '.join(groups.names)}")
        self.groups = groups
        self.target = tuple(target)

    def _fit(self, train: Dataset) -> None:
        if len(self.groups.codes) != train.n_users:
            raise DataError(f"groupboost: groups cover {len(self.groups.codes)} users, the "
                            f"training data has {train.n_users}")
        history = binary_history(train)
        overall = np.asarray(history.sum(axis=0)).ravel()
        active = train.user_counts() > 0
        n_all = active.sum()
        self.lift_ = np.zeros((self.groups.n_groups, train.n_items))
        for name in self.target:  # a handful of groups, not a loop over interactions
            g = self.groups.names.index(name)
            member = (self.groups.codes == g) & active
            pop_g = np.asarray(history[np.flatnonzero(member)].sum(axis=0)).ravel()
            lift = np.log((pop_g + 1.0) / (member.sum() + 2.0)) - \
                np.log((overall + 1.0) / (n_all + 2.0))
            span = np.ptp(lift)
            self.lift_[g] = (lift - lift.min()) / span if span > 0 else 0.0
        self.boosted_ = np.isin(np.arange(self.groups.n_groups),
                                [self.groups.names.index(t) for t in self.target])

    def _bonus(self, state: dict[str, np.ndarray], users: np.ndarray,
               items: np.ndarray) -> np.ndarray:
        codes = self.groups.codes[users]
        boosted = (codes >= 0) & self.boosted_[np.maximum(codes, 0)]
        bonus = self.lift_[np.maximum(codes, 0)[:, None], items]
        # users outside the target: no bonus, so (1 − weight)·relevance keeps their order
        return np.where(boosted[:, None], bonus, 0.0)

    @classmethod
    def for_gap(cls, groups: UserGroups, audit: GroupAudit, metric: str,
                weight: float = 0.3) -> GroupBoost:
        """A re-ranker boosting the group a measured ``audit`` found worst on ``metric``."""
        if metric not in audit.gaps:
            raise DataError(f"groupboost: the audit of '{audit.column}' has no gap for "
                            f"'{metric}' (has: {', '.join(audit.gaps)})")
        return cls(groups, [audit.gaps[metric].worst], weight)


class RerankedModel:
    """A model whose lists are re-ranked: ``recommend`` takes the model's top
    ``n_candidates`` and lets ``reranker`` choose ``k`` of them. Evaluate and audit it like
    any model (it satisfies the ``RankingModel`` protocol)."""

    def __init__(self, model: RankingModel, reranker: Reranker, n_candidates: int = 100) -> None:
        if n_candidates < 1:
            raise ConfigError(f"n_candidates must be ≥ 1, got {n_candidates}")
        self.model = model
        self.reranker = reranker
        self.n_candidates = n_candidates
        base = getattr(model, "name", type(model).__name__)
        self.name = f"{base}+{reranker.name}({reranker.weight:g})"

    def recommend(self, users: np.ndarray, k: int = 10, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None) -> Recommendations:
        """Re-ranked top-``k`` lists; scores are list positions (1 first, then lower)."""
        recs = self.model.recommend(users, max(k, self.n_candidates), exclude_seen=exclude_seen,
                                    candidates=candidates)
        items = self.reranker.rerank(recs.users, recs.items, recs.scores, k)
        scores = np.broadcast_to(1.0 - np.arange(k, dtype=np.float32) / k, items.shape)
        scores = np.where(items == PAD, -np.inf, scores).astype(np.float32)
        return Recommendations(users=recs.users, items=items, scores=scores,
                               user_index=recs.user_index, item_index=recs.item_index)

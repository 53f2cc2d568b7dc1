"""Evaluation protocols: ask a model for lists (or predictions) and recompute everything.

Evaluation never trusts a model's own scores or claims. :func:`evaluate_ranking` asks only
for ``recommend(users, k, exclude_seen=True)`` and measures the returned lists against the
held-out data; anything a list holds that it should not (items the user saw in training,
repeats, out-of-range indices) cannot raise a score. Full ranking over all items is the
primary protocol; :func:`evaluate_sampled` exists for comparison with the literature only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from trustrec.data import PAD, Dataset, Recommendations
from trustrec.data.sparse import binarized
from trustrec.errors import ConfigError, DataError, ModelError
from trustrec.evaluation.beyond import (
    average_recommended_popularity,
    catalogue_coverage,
    exposure,
    gini,
    intra_list_diversity,
    novelty,
)
from trustrec.evaluation.intervals import bootstrap_ci
from trustrec.evaluation.metrics import (
    cut_lists,
    distinct_mask,
    mae,
    ranking_metrics,
    rmse,
    sparse_lookup,
)
from trustrec.evaluation.result import EvaluationResult


class RankingModel(Protocol):
    """Anything that returns top-``k`` lists for user indices (e.g. a ``Recommender``)."""

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool = ...,
                  candidates: np.ndarray | None = ...) -> Recommendations: ...


class RatingModel(Protocol):
    """Anything that predicts a rating for each ``(users[i], items[i])`` pair."""

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


class ScoringModel(Protocol):
    """Anything that scores all items for user indices: ``(len(users), n_items)``."""

    def score(self, users: np.ndarray, items: np.ndarray | None = ...) -> np.ndarray: ...


# --------------------------------------------------------------------------- held-out data
@dataclass(frozen=True)
class _HeldOut:
    """The relevant test items each evaluated user could be recommended, and the counts."""

    relevant: sp.csr_matrix  # (n_users, n_items) binary, only items usable as relevant
    users: np.ndarray  # evaluated user indices (ascending)
    seen: sp.csr_matrix  # (n_users, n_items) binary training interactions
    counts: dict[str, int]


def _pairs(dataset: Dataset, mask: np.ndarray | None = None) -> sp.csr_matrix:
    """Binary users × items CSR of the distinct ``(user, item)`` pairs (optionally masked)."""
    user, item = (dataset.user, dataset.item) if mask is None else \
        (dataset.user[mask], dataset.item[mask])
    return binarized(sp.csr_matrix((np.ones(len(user)), (user, item)),
                                   shape=(dataset.n_users, dataset.n_items)))


def _check_same_space(train: Dataset, test: Dataset) -> None:
    for what in ("user_index", "item_index"):
        a, b = getattr(train, what), getattr(test, what)
        if a is not b and a != b:
            raise DataError(f"train and test: '{what}' differs; split one Dataset so that "
                            "indices mean the same in both")


def _held_out(train: Dataset, test: Dataset, relevance_threshold: float | None,
              users: np.ndarray | None) -> _HeldOut:
    """Filter the test interactions to usable relevant items; each drop counted once, under
    the first reason that applies: below the threshold, unknown item, seen in training."""
    _check_same_space(train, test)
    seen = _pairs(train)
    keep = np.ones(len(test), dtype=bool)
    counts = {"n_test_interactions": len(test)}
    below = np.zeros(len(test), dtype=bool) if relevance_threshold is None \
        else test.value < relevance_threshold
    unknown = train.item_counts()[test.item] == 0
    was_seen = sparse_lookup(seen, test.user, test.item) > 0
    for key, drop in (("n_test_below_threshold", below),
                      ("n_test_dropped_unknown_items", unknown),
                      ("n_test_dropped_seen", was_seen)):
        counts[key] = int((keep & drop).sum())
        keep &= ~drop
    relevant = _pairs(test, keep)
    if users is None:
        asked = np.unique(test.user)
    else:
        asked = np.unique(np.asarray(users))
        if asked.size and (asked.dtype.kind not in "iu" or asked.min() < 0
                           or asked.max() >= test.n_users):
            raise DataError(f"users: expected user indices in [0, {test.n_users})")
    n_relevant = np.diff(relevant.indptr)
    evaluated = asked[n_relevant[asked] > 0].astype(np.int32)
    counts.update(
        n_test_relevant=int(n_relevant[evaluated].sum()),
        n_users_evaluated=len(evaluated),
        n_users_skipped=len(asked) - len(evaluated),
    )
    if not len(evaluated):
        raise DataError(f"test: no user has a relevant held-out item with a training "
                        f"interaction to evaluate ({counts})")
    return _HeldOut(relevant, evaluated, seen, counts)


def _model_name(model: Any, name: str | None) -> str:
    return name or str(getattr(model, "name", None) or type(model).__name__)


def _summarise(per_user: Mapping[str, np.ndarray], confidence: float, n_boot: int,
               seed: int) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Mean and bootstrap interval of each per-user metric over the users where it is defined
    (NaN marks undefined, e.g. diversity of a list with fewer than two items)."""
    metrics, intervals = {}, {}
    for key, values in per_user.items():
        defined = values[~np.isnan(values)]
        metrics[key] = float(defined.mean()) if defined.size else float("nan")
        intervals[key] = bootstrap_ci(defined, n_boot=n_boot, confidence=confidence, seed=seed)
    return metrics, intervals


def _check_options(k: int, batch_size: int) -> None:
    if k < 1:
        raise ConfigError(f"k must be ≥ 1, got {k}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}")


# --------------------------------------------------------------------------- full ranking
def _recommend_all(model: RankingModel, label: str, users: np.ndarray, k: int,
                   batch_size: int, n_items: int) -> np.ndarray:
    """The model's top-``k`` lists for ``users`` as an (n, k) int64 array (cut or padded)."""
    parts = []
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        recs = model.recommend(batch, k, exclude_seen=True)
        if not np.array_equal(np.asarray(recs.users), batch):
            raise ModelError(f"model '{label}': recommend() returned rows for other users "
                             "than asked (one row per requested user, in order)")
        lists = cut_lists(recs.items, k)
        if lists.shape[0] != len(batch):
            raise ModelError(f"model '{label}': recommend() returned {lists.shape[0]} lists "
                             f"for {len(batch)} users")
        parts.append(lists)
    lists = np.concatenate(parts)
    if ((lists != PAD) & ((lists < 0) | (lists >= n_items))).any():
        raise ModelError(f"model '{label}': recommend() returned item indices outside "
                         f"[0, {n_items}) other than PAD ({PAD})")
    return lists


def _void_seen(lists: np.ndarray, users: np.ndarray,
               seen: sp.csr_matrix) -> tuple[np.ndarray, dict[str, int]]:
    """Empty the slots holding items the user saw in training; count what did not count."""
    rows = np.repeat(users, lists.shape[1])
    was_seen = (sparse_lookup(seen, rows, lists.ravel()) > 0).reshape(lists.shape)
    counts = {"n_slots_empty": int((lists == PAD).sum()),
              "n_recommended_seen": int(was_seen.sum())}
    lists = np.where(was_seen, PAD, lists)
    counts["n_recommended_duplicate"] = int(((lists != PAD) & ~distinct_mask(lists)).sum())
    return lists, counts


def evaluate_ranking(
    model: RankingModel,
    train: Dataset,
    test: Dataset,
    k: int = 10,
    *,
    relevance_threshold: float | None = None,
    users: np.ndarray | None = None,
    batch_size: int = 1024,
    item_features: np.ndarray | sp.spmatrix | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    name: str | None = None,
) -> EvaluationResult:
    """Full-ranking top-``k`` evaluation of ``model`` (fitted on ``train``) on ``test``.

    Relevant items of a user: their test interactions with value ≥ ``relevance_threshold``
    (all of them when ``None``), except items without any training interaction (no model
    could know them; counted in ``n_test_dropped_unknown_items``) and items the user
    already has in training (they are excluded from the lists; ``n_test_dropped_seen``).
    Users with at least one relevant item are evaluated (restricted to ``users`` if
    given); the others are counted in ``n_users_skipped``. The model ranks all items (no
    sampled negatives) through ``recommend(users, k, exclude_seen=True)`` only; its
    scores are ignored. In the returned lists, items the user saw in training are voided
    (``n_recommended_seen``) and a repeated item counts once (``n_recommended_duplicate``),
    so neither can raise any metric, beyond-accuracy ones included.

    Per-user metrics (mean and percentile-bootstrap interval over users): ``precision``,
    ``recall``, ``ndcg``, ``map``, ``mrr``, ``hit_rate`` (all ``@k``), ``arp`` and
    ``novelty`` (popularity = training interaction count), and ``ild`` (intra-list
    diversity) when ``item_features`` (n_items × d, dense or sparse) is given. Over all
    evaluated lists: ``coverage`` and ``gini`` of exposure over the whole item index.
    """
    _check_options(k, batch_size)
    label = _model_name(model, name)
    held = _held_out(train, test, relevance_threshold, users)
    start = time.perf_counter()
    lists = _recommend_all(model, label, held.users, k, batch_size, train.n_items)
    recommend_s = time.perf_counter() - start
    start = time.perf_counter()
    lists, list_counts = _void_seen(lists, held.users, held.seen)
    per_user = ranking_metrics(lists, held.relevant[held.users], k)
    popularity = train.item_counts()
    per_user["arp"] = average_recommended_popularity(lists, popularity)
    per_user["novelty"] = novelty(lists, popularity)
    if item_features is not None:
        if item_features.shape[0] != train.n_items:
            raise DataError(f"item_features: {item_features.shape[0]} rows, expected one per "
                            f"item ({train.n_items})")
        per_user["ild"] = intra_list_diversity(lists, item_features)
    metrics, intervals = _summarise(per_user, confidence, n_boot, seed)
    metrics["coverage"] = catalogue_coverage(lists, train.n_items)
    metrics["gini"] = gini(exposure(lists, train.n_items))
    return EvaluationResult(
        model=label, protocol="full-ranking", k=k, metrics=metrics, intervals=intervals,
        per_user=per_user, users=held.users, counts={**held.counts, **list_counts},
        confidence=confidence,
        timings={"recommend_s": recommend_s, "metrics_s": time.perf_counter() - start},
    )


# --------------------------------------------------------------------------- ratings
def evaluate_ratings(
    model: RatingModel,
    train: Dataset,
    test: Dataset,
    *,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    name: str | None = None,
) -> EvaluationResult:
    """RMSE and MAE of ``model.predict`` on the test ratings, with user-level intervals.

    Test pairs whose user or item has no training interaction are excluded and counted
    (``n_test_dropped_unknown_users`` / ``_items``; a pair with both is counted in both).
    ``rmse``/``mae`` pool all evaluated pairs; their intervals come from a bootstrap over
    users weighted by each user's number of ratings (pairs of one user are not
    independent). ``per_user`` holds each user's own RMSE, MAE and ``n_ratings``.
    """
    _check_same_space(train, test)
    label = _model_name(model, name)
    unknown_user = train.user_counts()[test.user] == 0
    unknown_item = train.item_counts()[test.item] == 0
    keep = ~(unknown_user | unknown_item)
    counts = {
        "n_test_interactions": len(test),
        "n_test_dropped_unknown_users": int(unknown_user.sum()),
        "n_test_dropped_unknown_items": int(unknown_item.sum()),
        "n_pairs_evaluated": int(keep.sum()),
    }
    if not keep.any():
        raise DataError(f"test: no rating has both its user and item in training ({counts})")
    user, item, truth = test.user[keep], test.item[keep], test.value[keep].astype(np.float64)
    start = time.perf_counter()
    pred = np.asarray(model.predict(user, item), dtype=np.float64)
    predict_s = time.perf_counter() - start
    if pred.shape != truth.shape:
        raise ModelError(f"model '{label}': predict() returned shape {pred.shape} for "
                         f"{len(truth)} pairs")
    err = pred - truth
    users, inverse, n = np.unique(user, return_inverse=True, return_counts=True)
    mse_user = np.bincount(inverse, weights=err * err) / n
    mae_user = np.bincount(inverse, weights=np.abs(err)) / n
    mse_lo, mse_hi = bootstrap_ci(mse_user, n_boot, confidence, seed, weights=n)
    counts.update(n_users_evaluated=len(users),
                  n_users_skipped=len(np.unique(test.user)) - len(users))
    return EvaluationResult(
        model=label, protocol="ratings", k=None,
        metrics={"rmse": rmse(pred, truth), "mae": mae(pred, truth)},
        intervals={"rmse": (float(np.sqrt(mse_lo)), float(np.sqrt(mse_hi))),
                   "mae": bootstrap_ci(mae_user, n_boot, confidence, seed, weights=n)},
        per_user={"rmse": np.sqrt(mse_user), "mae": mae_user, "n_ratings": n},
        users=users.astype(np.int32), counts=counts, confidence=confidence,
        timings={"predict_s": predict_s},
    )


# --------------------------------------------------------------------------- sampled
def _sample_negatives(pool: np.ndarray, touched: sp.csr_matrix, pair_row: np.ndarray,
                      n_negatives: int, rng: np.random.Generator) -> np.ndarray:
    """``n_negatives`` distinct items from ``pool`` per pair, none touched by its user
    (row ``pair_row[p]`` of ``touched``); redraws offending slots until none is left."""
    neg = pool[rng.integers(0, len(pool), size=(len(pair_row), n_negatives))]
    redo = np.ones(len(pair_row), dtype=bool)
    while redo.any():
        rows = np.flatnonzero(redo)
        block = neg[rows]
        bad = ~distinct_mask(block) | (sparse_lookup(
            touched, np.repeat(pair_row[rows], n_negatives), block.ravel()) > 0
        ).reshape(block.shape)
        block[bad] = pool[rng.integers(0, len(pool), size=int(bad.sum()))]
        neg[rows] = block
        redo[rows] = bad.any(axis=1)
    return neg


def evaluate_sampled(
    model: ScoringModel,
    train: Dataset,
    test: Dataset,
    k: int = 10,
    n_negatives: int = 100,
    seed: int = 0,
    *,
    relevance_threshold: float | None = None,
    users: np.ndarray | None = None,
    batch_size: int = 1024,
    confidence: float = 0.95,
    n_boot: int = 1000,
    name: str | None = None,
) -> EvaluationResult:
    """Sampled-negatives protocol — OPTIMISTIC, for comparison with published numbers only.

    Each relevant held-out item (chosen as in :func:`evaluate_ranking`) is ranked against
    ``n_negatives`` items drawn uniformly without replacement from the items with training
    interactions that the user has touched neither in training nor in test. Ranking
    against ~100 items instead of the whole catalogue inflates every metric and can
    reorder models (Krichene & Rendle, 2020); report it only beside full ranking. Scores
    come from ``model.score(users)``; a tie with a negative counts against the held-out
    item, NaN scores rank last. Per pair: ``hit = rank < k``, ``ndcg = 1/log2(rank + 2)``
    on a hit, ``rr = 1/(rank + 1)``; averaged per user, then over users. Metric names
    carry a ``sampled_`` prefix so they cannot be mistaken for full-ranking figures.
    """
    _check_options(k, batch_size)
    if n_negatives < 1:
        raise ConfigError(f"n_negatives must be ≥ 1, got {n_negatives}")
    label = _model_name(model, name)
    held = _held_out(train, test, relevance_threshold, users)
    relevant = held.relevant[held.users]
    pair_row = np.repeat(np.arange(len(held.users)), np.diff(relevant.indptr))
    positive = relevant.indices.astype(np.int64)
    pool = np.flatnonzero(train.item_counts() > 0)
    touched = ((held.seen + _pairs(test)) > 0).astype(np.float64)[held.users]
    touched.sort_indices()
    in_pool = np.diff(touched[:, pool].indptr)
    if (len(pool) - in_pool).min() < n_negatives:
        raise DataError(f"evaluate_sampled: some user has fewer than n_negatives="
                        f"{n_negatives} untouched items among {len(pool)} known items")
    neg = _sample_negatives(pool, touched, pair_row, n_negatives, np.random.default_rng(seed))
    start = time.perf_counter()
    rank = np.empty(len(pair_row), dtype=np.int64)
    bounds = np.searchsorted(pair_row, np.arange(0, len(held.users) + batch_size, batch_size))
    for b, first in enumerate(range(0, len(held.users), batch_size)):
        batch = held.users[first:first + batch_size]
        scores = np.asarray(model.score(batch), dtype=np.float64)
        if scores.shape != (len(batch), train.n_items):
            raise ModelError(f"model '{label}': score() returned shape {scores.shape}, "
                             f"expected {(len(batch), train.n_items)}")
        scores = np.nan_to_num(scores, nan=-np.inf)
        sel = slice(bounds[b], bounds[b + 1])
        rows = pair_row[sel] - first
        pos_score = scores[rows, positive[sel]]
        rank[sel] = (scores[rows[:, None], neg[sel]] >= pos_score[:, None]).sum(axis=1)
    score_s = time.perf_counter() - start
    hit = rank < k
    per_pair = {
        f"sampled_ndcg@{k}": np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0),
        f"sampled_hit_rate@{k}": hit.astype(np.float64),
        "sampled_mrr": 1.0 / (rank + 1.0),
    }
    n_pairs = np.bincount(pair_row, minlength=len(held.users))
    per_user = {key: np.bincount(pair_row, weights=v, minlength=len(held.users)) / n_pairs
                for key, v in per_pair.items()}
    metrics, intervals = _summarise(per_user, confidence, n_boot, seed)
    return EvaluationResult(
        model=label, protocol=f"sampled-{n_negatives}", k=k, metrics=metrics,
        intervals=intervals, per_user=per_user, users=held.users,
        counts={**held.counts, "n_pairs": len(pair_row), "n_negatives": n_negatives},
        confidence=confidence, timings={"score_s": score_s},
    )

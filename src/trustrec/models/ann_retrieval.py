"""ANN-backed top-K for inner-product models: retrieve candidates, re-score exactly, mask seen.

A model (:class:`trustrec.models.ann_mixin.AnnRetrieval`) gives its user and item vectors
through ``_ann_user_vectors(users)`` and ``_ann_item_vectors(items)``: a factor model scoring
``x_u · y_i + b_i`` gives ``[x_u, 1]`` and ``[y_i, b_i]``, ``content`` its profiles and item
text vectors. For each batch of users the index returns ``2k`` plus the batch's largest
number of seen items, so that masking seen items still leaves ``k`` candidates; their exact
scores decide the list (ties: lower item index), exactly as the exhaustive path would rank
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from trustrec.ann.index import AnnIndex, AnnSettings, describe
from trustrec.data.recommendations import PAD, Recommendations
from trustrec.models.topk import top_k

#: Most floats gathered at once for re-scoring (users × candidates × factors).
_GATHER = 1 << 24

ExactRecommend = Callable[[np.ndarray, int, bool], Recommendations]


def measure_recall(model: Any, index: AnnIndex, n_queries: int, seed: int = 0,
                   k: int = 10) -> tuple[float, int]:
    """Mean recall@``k`` of the index's raw top-``k`` against exact top-``k`` inner products,
    over up to ``n_queries`` random users with history; returns (recall, users used)."""
    active = np.flatnonzero(np.diff(model.seen_.indptr) > 0)
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(active, size=min(n_queries, len(active)), replace=False))
    k = min(k, model.n_items_)
    queries = model._ann_user_vectors(users)
    exact, _ = top_k(queries @ model._ann_item_vectors().T, k)
    approx = index.search(queries, k)
    hits = (exact[:, :, None] == approx[:, None, :]).any(axis=2).sum(axis=1)
    return float(hits.mean() / k), len(users)


def build_ann(model: Any, settings: AnnSettings | None = None, seed: int = 0) -> dict[str, Any]:
    """Index the model's items, measure recall@10 against exact search, attach both to the
    model (``ann_``, ``ann_info_``) and return the info the manifest records."""
    cfg = settings or AnnSettings.from_env()
    index = AnnIndex.build(model._ann_item_vectors(), cfg)
    recall, n = measure_recall(model, index, cfg.recall_queries, seed)
    model.ann_ = index
    model.ann_info_ = {**describe(cfg), "recall_at_10": recall, "recall_users": n,
                       "n_items": model.n_items_, **index.params()}
    return model.ann_info_


def _seen_in(seen: sp.csr_matrix, users: np.ndarray, cands: np.ndarray) -> np.ndarray:
    """Boolean (len(users), n) mask: ``cands[r, j]`` was seen by ``users[r]``."""
    sub = seen[users]
    sub.sort_indices()
    n_items = seen.shape[1]
    rows = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(sub.indptr))
    keys = rows * n_items + sub.indices
    query = np.arange(len(users), dtype=np.int64)[:, None] * n_items + np.maximum(cands, 0)
    pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    return (keys[pos] == query) if len(keys) else np.zeros(cands.shape, dtype=bool)


def _rescored_top(model: Any, users: np.ndarray, k: int, exclude_seen: bool,
                  n_seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    depth = min(model.n_items_, 2 * k + (int(n_seen.max()) if exclude_seen else 0))
    queries = model._ann_user_vectors(users)
    cands = np.sort(model.ann_.search(queries, depth), axis=1)
    valid = cands >= 0
    # the model's own pair scores, so lists and scores equal the exhaustive path's
    # (including any user offset or clipping the inner product leaves out, as in mf)
    safe = np.where(valid, cands, 0)
    block = np.asarray(model._predict(np.repeat(users, safe.shape[1]), safe.ravel()),
                       dtype=np.float32).reshape(safe.shape)
    block[~valid] = -np.inf
    if exclude_seen:
        block[_seen_in(model.seen_, users, cands)] = -np.inf
    pos, scores = top_k(block.astype(np.float32), k)
    items = np.where(pos >= 0, np.take_along_axis(cands, np.maximum(pos, 0), axis=1), PAD)
    return items.astype(np.int32), scores


def recommend_ann(model: Any, users: np.ndarray, k: int, exclude_seen: bool,
                  exact: ExactRecommend) -> Recommendations:
    """Top-``k`` lists through the model's ANN index; users without training history (who
    get the popularity list) go through ``exact``."""
    n_seen_all = np.diff(model.seen_.indptr)[users]
    items = np.full((len(users), k), PAD, dtype=np.int32)
    scores = np.full((len(users), k), -np.inf, dtype=np.float32)
    cold = n_seen_all == 0
    if cold.any():
        fallback = exact(users[cold], k, exclude_seen)
        items[cold], scores[cold] = fallback.items, fallback.scores
    order = np.flatnonzero(~cold)[np.argsort(n_seen_all[~cold], kind="stable")]
    start = 0
    width = model.ann_.dim
    while start < len(order):  # batches of users with similar history lengths
        step = len(order) - start
        while step > 1 and width * step * min(model.n_items_, 2 * k + int(
                n_seen_all[order[start + step - 1]])) > _GATHER:
            step //= 2
        rows = order[start:start + step]
        items[rows], scores[rows] = _rescored_top(model, users[rows], k, exclude_seen,
                                                  n_seen_all[rows])
        start += step
    return Recommendations(users=users, items=items, scores=scores,
                           user_index=model.user_index_, item_index=model.item_index_)

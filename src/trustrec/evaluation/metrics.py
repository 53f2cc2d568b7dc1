"""Accuracy and ranking metrics: plain vectorised functions over arrays.

Ranking metrics take the recommendation lists as an ``(n, k)`` integer array of item
indices (:data:`~trustrec.data.PAD` = -1 marks an empty slot) and the relevant items as a
sparse matrix with one row per list: row ``r`` stores the relevant items of list ``r``, the
stored value being the graded relevance (stored zeros are not relevant; negative values
are refused). Conventions shared by every ranking metric:

* Lists are cut to their first ``k`` slots; a list narrower than ``k`` counts as padded.
* An empty (PAD) slot is a miss. A repeated item counts once: every occurrence after the
  first is a miss that still spends its slot, so repeating a relevant item gains nothing.
* A row without relevant items gets ``NaN`` (the metric is undefined there), never 0 or 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from trustrec.data import PAD
from trustrec.errors import DataError


# --------------------------------------------------------------------------- ratings
def _errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64).ravel()
    truth = np.asarray(truth, dtype=np.float64).ravel()
    if pred.shape != truth.shape:
        raise DataError(f"pred has {pred.size} values, truth has {truth.size}: expected equal")
    return pred - truth


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error ``sqrt(mean((pred - truth)²))``; NaN when there are no pairs."""
    err = _errors(pred, truth)
    return float(np.sqrt(np.mean(err * err))) if err.size else float("nan")


def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error ``mean(|pred - truth|)``; NaN when there are no pairs."""
    err = _errors(pred, truth)
    return float(np.mean(np.abs(err))) if err.size else float("nan")


# --------------------------------------------------------------------------- list helpers
def cut_lists(items: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of the ``(n, width)`` lists ``items``, padded with PAD to ``k``."""
    items = np.asarray(items)
    if items.ndim != 2 or (items.size and items.dtype.kind not in "iu"):
        raise DataError(f"recommended items: expected a 2-D integer array, got shape "
                        f"{items.shape} of dtype {items.dtype}")
    if k < 1:
        raise DataError(f"k must be ≥ 1, got {k}")
    out = items[:, :k].astype(np.int64)
    if out.shape[1] < k:
        out = np.pad(out, ((0, 0), (0, k - out.shape[1])), constant_values=PAD)
    return out


def distinct_mask(items: np.ndarray) -> np.ndarray:
    """Boolean ``(n, k)`` mask of the slots that count: not PAD and not a repeat in its row."""
    items = np.asarray(items)
    order = np.argsort(items, axis=1, kind="stable")
    ranked = np.take_along_axis(items, order, axis=1)
    repeat = np.zeros(items.shape, dtype=bool)
    repeat[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    mask = np.empty(items.shape, dtype=bool)
    np.put_along_axis(mask, order, ~repeat, axis=1)
    return mask & (items != PAD)


def sparse_lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Stored value of ``matrix[rows[i], cols[i]]`` for each pair (0 where nothing is stored).

    ``matrix`` must be CSR with sorted indices and no duplicates; ``cols`` outside
    ``[0, n_cols)`` are looked up as absent.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    n_cols = matrix.shape[1]
    entry_rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys = entry_rows * n_cols + matrix.indices
    if not len(keys):
        return np.zeros(len(rows))
    inside = (cols >= 0) & (cols < n_cols)
    query = rows * n_cols + np.where(inside, cols, 0)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    found = inside & (keys[pos] == query)
    return np.where(found, matrix.data[pos], 0.0).astype(np.float64)


def relevance_matrix(relevant: sp.spmatrix | np.ndarray, n_rows: int) -> sp.csr_matrix:
    """``relevant`` as canonical CSR (float64, sorted, summed duplicates, no stored zeros)."""
    rel = sp.csr_matrix(relevant, dtype=np.float64, copy=True)
    if rel.shape[0] != n_rows:
        raise DataError(f"relevant has {rel.shape[0]} rows, expected one per list ({n_rows})")
    rel.sum_duplicates()
    if rel.nnz and rel.data.min() < 0:
        raise DataError("relevant: relevance values must be ≥ 0")
    rel.eliminate_zeros()
    rel.sort_indices()
    return rel


# --------------------------------------------------------------------------- ranking
@dataclass(frozen=True)
class _Hits:
    """What every ranking metric is computed from: one lookup of the lists in ``relevant``."""

    gains: np.ndarray  # (n, k) relevance of each counted slot, 0 for misses
    n_relevant: np.ndarray  # (n,) number of relevant items per row
    relevant: sp.csr_matrix
    k: int

    @property
    def hits(self) -> np.ndarray:
        return self.gains > 0

    @property
    def discount(self) -> np.ndarray:
        return 1.0 / np.log2(np.arange(self.k) + 2.0)


def _hits(items: np.ndarray, relevant: sp.spmatrix | np.ndarray, k: int | None) -> _Hits:
    items = np.asarray(items)
    if k is None:
        k = items.shape[1] if items.ndim == 2 else 0
    lists = cut_lists(items, k)
    rel = relevance_matrix(relevant, lists.shape[0])
    if lists.size and ((lists < PAD).any() or lists.max() >= rel.shape[1]):
        raise DataError(f"recommended items: indices must be PAD ({PAD}) or in "
                        f"[0, {rel.shape[1]})")
    counted = distinct_mask(lists)
    rows = np.repeat(np.arange(lists.shape[0]), lists.shape[1])
    gains = sparse_lookup(rel, rows, lists.ravel()).reshape(lists.shape) * counted
    return _Hits(gains, np.diff(rel.indptr), rel, lists.shape[1])


def _ideal_dcg(h: _Hits, graded: bool) -> np.ndarray:
    """DCG of the best possible list: the min(|rel|, k) most relevant items in order."""
    if not graded:
        best = np.concatenate([[0.0], np.cumsum(h.discount)])
        return best[np.minimum(h.n_relevant, h.k)]
    rel = h.relevant
    entry_rows = np.repeat(np.arange(rel.shape[0]), h.n_relevant)
    order = np.lexsort((-rel.data, entry_rows))
    rank = np.arange(rel.nnz) - rel.indptr[entry_rows[order]]
    top = rank < h.k
    weights = rel.data[order][top] * h.discount[rank[top]]
    return np.bincount(entry_rows[order][top], weights=weights, minlength=rel.shape[0])


def _ndcg(h: _Hits, graded: bool) -> np.ndarray:
    gains = h.gains if graded else h.hits.astype(np.float64)
    return gains @ h.discount / _ideal_dcg(h, graded)


def _average_precision(h: _Hits) -> np.ndarray:
    hits = h.hits
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, h.k + 1)
    return (precision_at * hits).sum(axis=1) / np.minimum(h.n_relevant, h.k)


_FORMULAS: dict[str, Callable[[_Hits, bool], np.ndarray]] = {
    "precision": lambda h, g: h.hits.sum(axis=1) / h.k,
    "recall": lambda h, g: h.hits.sum(axis=1) / h.n_relevant,
    "ndcg": _ndcg,
    "map": lambda h, g: _average_precision(h),
    "mrr": lambda h, g: (h.hits / np.arange(1, h.k + 1)).max(axis=1, initial=0.0),
    "hit_rate": lambda h, g: h.hits.any(axis=1).astype(np.float64),
}


def _evaluate(h: _Hits, name: str, graded: bool = False) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        values = _FORMULAS[name](h, graded)
    return np.where(h.n_relevant > 0, values, np.nan)


def precision_at_k(items: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> np.ndarray:
    """Per-list precision: ``P@k = |relevant ∩ top-k| / k`` (padded slots count as misses)."""
    return _evaluate(_hits(items, relevant, k), "precision")


def recall_at_k(items: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> np.ndarray:
    """Per-list recall: ``R@k = |relevant ∩ top-k| / |relevant|``.

    The denominator is the full number of relevant items (not ``min(|relevant|, k)``), so
    a user with more than ``k`` relevant items cannot reach 1; recall grows with ``k``.
    """
    return _evaluate(_hits(items, relevant, k), "recall")


def ndcg_at_k(items: np.ndarray, relevant: sp.spmatrix, k: int | None = None, *,
              graded: bool = False) -> np.ndarray:
    """Per-list normalised discounted cumulative gain.

    ``DCG@k = Σ_{j=1..k} gain_j / log2(j + 1)`` with ``gain_j`` = 1 for a relevant item
    (binary, default) or its stored relevance value (``graded=True``, linear gain).
    ``NDCG@k = DCG@k / IDCG@k`` where ``IDCG@k`` is the DCG of the ideal list holding the
    ``min(|relevant|, k)`` most relevant items in decreasing relevance.
    """
    return _evaluate(_hits(items, relevant, k), "ndcg", graded)


def average_precision_at_k(items: np.ndarray, relevant: sp.spmatrix,
                           k: int | None = None) -> np.ndarray:
    """Per-list average precision (mean over lists = MAP@k).

    ``AP@k = Σ_{j=1..k} P@j · rel_j / min(|relevant|, k)`` with ``rel_j`` ∈ {0, 1}.
    """
    return _evaluate(_hits(items, relevant, k), "map")


def reciprocal_rank_at_k(items: np.ndarray, relevant: sp.spmatrix,
                         k: int | None = None) -> np.ndarray:
    """Per-list reciprocal rank (mean = MRR@k): ``1 / rank of the first hit``, 0 if none in k."""
    return _evaluate(_hits(items, relevant, k), "mrr")


def hit_rate_at_k(items: np.ndarray, relevant: sp.spmatrix, k: int | None = None) -> np.ndarray:
    """Per-list hit rate: 1 if at least one relevant item is in the top ``k``, else 0."""
    return _evaluate(_hits(items, relevant, k), "hit_rate")


def ranking_metrics(items: np.ndarray, relevant: sp.spmatrix, k: int | None = None, *,
                    graded: bool = False) -> dict[str, np.ndarray]:
    """All ranking metrics at once from one hit matrix, keyed ``"<name>@<k>"``.

    Names: ``precision``, ``recall``, ``ndcg``, ``map``, ``mrr``, ``hit_rate`` (formulas as
    in the single-metric functions; ``graded`` applies to NDCG only). Values are per list.
    """
    h = _hits(items, relevant, k)
    return {f"{name}@{h.k}": _evaluate(h, name, graded) for name in _FORMULAS}

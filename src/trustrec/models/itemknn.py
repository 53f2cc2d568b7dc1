"""``itemknn``: item-item nearest neighbours over the sparse interaction matrix.

For every item the ``k`` most similar other items are kept (a sparse CSR matrix S, row i
holding i's neighbours); a user's scores are ``X_u · S``. The co-occurrence matrix is
computed as sparse products one block of item rows at a time, normalised and cut to the
top-k with the shared vectorised :func:`~trustrec.models.topk.top_k`, so no dense
n_items² matrix and no Python loop per item exist.

Similarities of items i (row) and j (column), with ``c_ij = x_iᵀx_j`` over users:

* ``cosine``: ``c_ij / (‖x_i‖^{2α} ‖x_j‖^{2(1−α)} + shrink)`` (α = 0.5: plain cosine,
  other α: the asymmetric cosine of Aiolli 2013);
* ``jaccard``: ``c_ij / (‖x_i‖² + ‖x_j‖² − c_ij + shrink)`` (Tanimoto; Jaccard on 0/1 data);
* ``bm25``: ``w_iᵀw_j`` where W is X with BM25 weights (users as terms: idf down-weights
  heavy users; items as documents: ``bm25_b`` normalises by item popularity).

Unlearning (:meth:`ItemKnn._downdate`, :func:`knn_downdate`) recomputes only the
similarities the removed users' items take part in, exactly; with ``bm25_b > 0`` every
weight depends on the mean item length, so forgetting refits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.data.recommendations import PAD
from trustrec.models.base import SCORE_BLOCK
from trustrec.models.config import require
from trustrec.models.itemitem import ItemItemConfig, ItemItemRecommender
from trustrec.models.registry import register
from trustrec.models.topk import top_k


@dataclass(frozen=True)
class ItemKnnConfig(ItemItemConfig):
    """``k``: neighbours kept per item; ``similarity``: cosine, bm25 or jaccard;
    ``shrink`` (≥ 0): added to the cosine/jaccard denominator, damping rare co-occurrences;
    ``alpha`` in [0, 1]: cosine asymmetry (0.5: symmetric); ``bm25_k1``/``bm25_b``: BM25
    saturation and length normalisation. The defaults (BM25 with mild length normalisation)
    scored best on validation splits of ML-100K and ml-latest-small, ahead of cosine and
    jaccard (``benchmarks/quick_topn_check.py``)."""

    k: int = 100
    similarity: Literal["cosine", "bm25", "jaccard"] = "bm25"
    shrink: float = 0.0
    alpha: float = 0.5
    bm25_k1: float = 1.2
    bm25_b: float = 0.25

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        require(self.k > 0, "itemknn", "k", "> 0", self.k)
        require(self.similarity in ("cosine", "bm25", "jaccard"), "itemknn", "similarity",
                "one of cosine, bm25, jaccard", self.similarity)
        require(math.isfinite(self.shrink) and self.shrink >= 0, "itemknn", "shrink",
                "a finite number ≥ 0", self.shrink)
        require(0.0 <= self.alpha <= 1.0, "itemknn", "alpha", "in [0, 1]", self.alpha)
        require(math.isfinite(self.bm25_k1) and self.bm25_k1 >= 0, "itemknn", "bm25_k1",
                "a finite number ≥ 0", self.bm25_k1)
        require(0.0 <= self.bm25_b <= 1.0, "itemknn", "bm25_b", "in [0, 1]", self.bm25_b)


def bm25_weight(x: sp.csr_matrix, k1: float, b: float) -> sp.csr_matrix:
    """X (users × items) with BM25 weights: users are terms, items are documents."""
    x = x.tocoo(copy=True)
    n_items = x.shape[1]
    idf = np.log(n_items) - np.log1p(np.bincount(x.row, minlength=x.shape[0]))
    length = np.bincount(x.col, weights=x.data, minlength=n_items)
    norm = (1.0 - b) + b * length / max(length.mean(), np.finfo(np.float64).tiny)
    x.data = (x.data * (k1 + 1.0) / (k1 * norm[x.col] + x.data) * idf[x.row]).astype(np.float32)
    return x.tocsr()


def _normalise(c: np.ndarray, sq_row: np.ndarray, sq_col: np.ndarray,
               cfg: ItemKnnConfig) -> None:
    """Turn co-occurrences ``c`` of row items and column items (squared norms ``sq_row``
    and ``sq_col``, broadcast against ``c``) into similarities, in place."""
    if cfg.similarity == "cosine":
        denom = np.power(sq_row, cfg.alpha) * np.power(sq_col, 1 - cfg.alpha)
    elif cfg.similarity == "jaccard":
        denom = sq_row + sq_col - c
    else:
        return
    denom += cfg.shrink
    np.divide(c, denom, out=c, where=denom > 0)


def _weighted(x: sp.csr_matrix, cfg: ItemKnnConfig) -> tuple[sp.csr_matrix, sp.csr_matrix,
                                                               np.ndarray]:
    """``(W, Wᵀ, squared column norms)``: X as the similarity weights it (float64)."""
    if cfg.similarity == "bm25":
        x = bm25_weight(x, cfg.bm25_k1, cfg.bm25_b)
    x = x.astype(np.float64)
    xt = x.T.tocsr()
    return x, xt, np.asarray(xt.multiply(xt).sum(axis=1), dtype=np.float64).ravel()


def _neighbour_count(n: int, cfg: ItemKnnConfig) -> int:
    """Neighbours kept per item: ``k``, at most every other item."""
    return min(cfg.k, max(1, n - 1))


def _neighbour_rows(weighted: tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray],
                    rows: np.ndarray, cfg: ItemKnnConfig) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """COO ``(row, column, similarity)`` of the top-``k`` neighbours of the items ``rows``,
    from their full similarity rows (one block of rows at a time)."""
    x, xt, sq_norm = weighted
    n = x.shape[1]
    k = _neighbour_count(n, cfg)
    step = max(1, SCORE_BLOCK // max(1, n))
    items, scores = [], []
    for start in range(0, len(rows), step):
        block = rows[start:start + step]
        c = (xt[block] @ x).toarray()
        nonzero = c != 0
        _normalise(c, sq_norm[block][:, None], sq_norm, cfg)
        c[~nonzero] = -np.inf  # items never seen together are no neighbours
        c[np.arange(len(block)), block] = -np.inf
        block_items, block_scores = top_k(c, k)
        items.append(block_items)
        scores.append(block_scores)
    cols = np.concatenate(items) if items else np.empty((0, k), np.int32)
    vals = np.concatenate(scores) if scores else np.empty((0, k), np.float32)
    keep = cols != PAD
    return np.repeat(rows, keep.sum(axis=1)), cols[keep], vals[keep]


def _similarity_matrix(row: np.ndarray, col: np.ndarray, val: np.ndarray,
                       n: int) -> sp.csr_matrix:
    """The float32 CSR similarity matrix (sorted indices) of the given entries."""
    sim = sp.csr_matrix((val.astype(np.float32), (row, col)), shape=(n, n))
    sim.sort_indices()
    return sim


def knn_similarity(x: sp.csr_matrix, cfg: ItemKnnConfig) -> sp.csr_matrix:
    """Top-``cfg.k`` similarity CSR (n_items × n_items, row i: i's neighbours, no self)."""
    n = x.shape[1]
    return _similarity_matrix(*_neighbour_rows(_weighted(x, cfg), np.arange(n), cfg), n)


def _row_top(sim: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(columns, values)`` (n, k) of each row's ``k`` largest entries of the CSR ``sim``
    (sorted indices), ties to the lower column, padded with ``PAD`` and ``-inf``."""
    counts = np.diff(sim.indptr)
    rows = np.repeat(np.arange(sim.shape[0]), counts)
    pos = np.arange(sim.nnz) - sim.indptr[rows]
    width = max(k, int(counts.max(initial=0)))
    vals = np.full((sim.shape[0], width), -np.inf, dtype=np.float32)
    cols = np.full((sim.shape[0], width), PAD, dtype=np.int32)
    vals[rows, pos], cols[rows, pos] = sim.data, sim.indices
    top_pos, top_val = top_k(vals, k)  # ties to the lower position, i.e. lower column
    top_col = np.take_along_axis(cols, np.maximum(top_pos, 0), axis=1)
    top_col[top_pos == PAD] = PAD
    return top_col, top_val


def _last_kept(sim: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(column, value)`` of each row's k-th (weakest kept) neighbour in ``sim``: its
    smallest value, ties to the higher column; ``PAD`` and ``-inf`` in rows holding fewer
    than ``k`` (they kept every item they co-occur with)."""
    n = sim.shape[0]
    counts = np.diff(sim.indptr)
    col, val = np.full(n, PAD, dtype=np.int64), np.full(n, -np.inf, dtype=np.float32)
    full = np.flatnonzero(counts == k)
    if len(full) == 0:
        return col, val
    starts = sim.indptr[full]
    entries = (starts[:, None] + np.arange(k)).ravel()
    data = sim.data[entries].reshape(len(full), k)
    val[full] = data.min(axis=1)
    at_min = data == val[full][:, None]
    col[full] = np.where(at_min, sim.indices[entries].reshape(len(full), k), -1).max(axis=1)
    return col, val


def knn_downdate(old: sp.csr_matrix, x: sp.csr_matrix, touched: np.ndarray,
                 cfg: ItemKnnConfig) -> sp.csr_matrix:
    """The similarity matrix of the input ``x`` (the old input without some users' rows),
    from the ``old`` matrix and the items those users ``touched``; equal to
    :func:`knn_similarity` of ``x``. Needs weights that are local to a user's row
    (cosine, jaccard, bm25 with ``bm25_b = 0``).

    Only pairs with a touched item change: the touched items' rows are recomputed in full,
    and every other row's kept neighbours are merged with its new similarities to the
    touched items (one sparse product ``Wᵀ W_S``). A merged row is final when its k-th
    neighbour provably still beats every neighbour it never kept (it is the old k-th, or
    better at float32 precision) and no float32 tie sits at the cut; other rows are
    recomputed in full too.
    """
    weighted = _weighted(x, cfg)
    w, wt, sq_norm = weighted
    n = x.shape[1]
    k = _neighbour_count(n, cfg)
    in_s = np.zeros(n, dtype=bool)
    in_s[touched] = True
    new = (wt @ w[:, touched]).tocoo()
    keep = (new.data != 0) & ~in_s[new.row]
    new_row, new_col, new_val = new.row[keep], touched[new.col[keep]], new.data[keep]
    _normalise(new_val, sq_norm[new_row], sq_norm[new_col], cfg)
    kth_col, kth_val = _last_kept(old, k)
    prev = old.tocoo()
    stay = ~in_s[prev.row] & ~in_s[prev.col]
    merged = sp.csr_matrix(
        (np.concatenate([prev.data[stay], new_val.astype(np.float32)]),
         (np.concatenate([prev.row[stay], new_row]), np.concatenate([prev.col[stay], new_col]))),
        shape=(n, n))
    merged.sort_indices()
    col, val = _row_top(merged, k + 1)
    same = (col[:, k - 1] == kth_col) & ~in_s[np.maximum(col[:, k - 1], 0)]
    beaten = (kth_col != PAD) & ~same & ~(val[:, k - 1] > kth_val)
    tie = np.isfinite(val[:, k]) & (val[:, k - 1] == val[:, k])  # a float32 tie at the cut
    redo = in_s | beaten | tie
    rows = np.repeat(np.arange(n), k).reshape(n, k)
    final = (col[:, :k] != PAD) & ~redo[:, None]
    again = _neighbour_rows(weighted, np.flatnonzero(redo), cfg)
    return _similarity_matrix(np.concatenate([rows[final], again[0]]),
                              np.concatenate([col[:, :k][final], again[1]]),
                              np.concatenate([val[:, :k][final], again[2]]), n)


@register
class ItemKnn(ItemItemRecommender):
    """Item-based k-nearest-neighbours: scores are sums of the similarities to a user's items."""

    name = "itemknn"
    config_class = ItemKnnConfig

    def _fit_weights(self, x: sp.csr_matrix) -> sp.csr_matrix:
        return knn_similarity(x, self.config)

    def _downdate(self, old: ItemKnn, users: np.ndarray, dataset: Dataset,
                  exact: bool) -> str | None:
        """The similarity rows the users touched, updated (:func:`knn_downdate`), when they
        touched at most a quarter of the items; never for bm25 with ``bm25_b > 0``, whose
        length normalisation by the mean item length moves every weight."""
        cfg = self.config
        touched = np.unique(old.input_[users].indices)
        if (cfg.similarity == "bm25" and cfg.bm25_b > 0) or len(touched) > self.n_items_ // 4:
            return None
        self._set_input(dataset)
        self.weights_ = knn_downdate(old.weights_, self.input_, touched, cfg)
        return "itemknn-row-update"

    def _weights_state(self) -> dict[str, np.ndarray]:
        s = self.weights_
        return {"sim_data": s.data, "sim_indices": s.indices, "sim_indptr": s.indptr}

    def _load_weights(self, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
        s = sp.csr_matrix((arrays["sim_data"], arrays["sim_indices"], arrays["sim_indptr"]),
                          shape=(self.n_items_, self.n_items_))
        s.check_format(full_check=True)
        return s

    def similar_items(self, items: np.ndarray | list[int],
                      k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar items to each of ``items``, best first, never the item itself.

        Returns ``(indices int32 (n, k), scores float32 (n, k))``; items with fewer than
        ``k`` stored neighbours are padded with ``PAD`` and ``-inf``.
        """
        self._check_fitted()
        rows = self._check_items(items)
        sub = self.weights_[rows].tocoo()
        dense = np.full(sub.shape, -np.inf, dtype=np.float32)
        dense[sub.row, sub.col] = sub.data
        return top_k(dense, k)

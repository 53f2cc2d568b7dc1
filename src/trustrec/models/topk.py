"""Top-K selection shared by every model: vectorised, with deterministic tie-breaking."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trustrec.data.recommendations import PAD


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row of ``scores``, best first.

    Ties are broken by the lower column index, so results never depend on the partition
    algorithm. Entries equal to ``-inf`` are "not recommendable": rows with fewer than
    ``k`` finite scores are padded with :data:`PAD` and ``-inf``.
    Returns ``(items int32 (n, k), scores float32 (n, k))``.
    """
    n, m = scores.shape
    k = int(k)
    if k <= 0:
        return np.empty((n, 0), np.int32), np.empty((n, 0), np.float32)
    if k >= m:
        order = np.argsort(-scores, axis=1, kind="stable")
        items = order.astype(np.int32)
        top = np.take_along_axis(scores, order, axis=1).astype(np.float32)
        if k > m:
            items = np.pad(items, ((0, 0), (0, k - m)), constant_values=PAD)
            top = np.pad(top, ((0, 0), (0, k - m)), constant_values=-np.inf)
    else:
        # k-th largest value per row; take every strictly greater entry, then the
        # lowest-index entries equal to it until the row holds exactly k.
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
        greater = scores > kth[:, None]
        equal = scores == kth[:, None]
        need = k - greater.sum(axis=1)
        chosen = greater | (equal & (np.cumsum(equal, axis=1) <= need[:, None]))
        cols = np.nonzero(chosen)[1].reshape(n, k)  # ascending column order per row
        vals = np.take_along_axis(scores, cols, axis=1)
        order = np.argsort(-vals, axis=1, kind="stable")
        items = np.take_along_axis(cols, order, axis=1).astype(np.int32)
        top = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    items[~np.isfinite(top) & (top < 0)] = PAD
    return items, top


def top_k_row(row: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of one row without NaN (``row`` 1-D), the same result with a fraction of
    its array passes; for per-request serving. Returns ``(items (k,), scores (k,))``."""
    m, k = len(row), int(k)
    if k <= 0 or k >= m:
        items, top = top_k(row[None, :], k)
        return items[0], top[0]
    kth = np.partition(row, m - k)[m - k]  # the k-th largest value
    cand = np.flatnonzero(row >= kth)  # ascending: ties keep the lower index first
    order = np.argsort(-row[cand], kind="stable")[:k]
    items = cand[order].astype(np.int32)
    top = row[items].astype(np.float32)
    items[np.isneginf(top)] = PAD
    return items, top


def mask_seen(scores: np.ndarray, seen: sp.csr_matrix, rows: np.ndarray) -> None:
    """Set ``scores[r, j] = -inf`` in place where user ``rows[r]`` has interacted with ``j``."""
    sub = seen[rows]
    r, c = sub.nonzero()
    scores[r, c] = -np.inf

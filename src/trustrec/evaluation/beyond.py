"""Beyond-accuracy metrics: coverage, popularity bias, exposure inequality, novelty, diversity.

All take recommendation lists as an ``(n, k)`` integer array (PAD = -1 for empty slots) and
follow the ranking metrics' convention: empty slots and repeats of an item within a list
do not count (see :func:`trustrec.evaluation.metrics.distinct_mask`). ``popularity`` is the
number of training interactions of each item index.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trustrec.errors import DataError
from trustrec.evaluation.metrics import distinct_mask

#: Upper bound on the floats held in one block of gathered item features.
_FEATURE_BLOCK = 1 << 22


def _counted(items: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """The lists as int64 and the mask of their counted slots, after a range check."""
    items = np.asarray(items)
    if items.ndim != 2:
        raise DataError(f"recommended items: expected a 2-D array, got shape {items.shape}")
    items = items.astype(np.int64)
    mask = distinct_mask(items)
    if mask.any() and (items[mask].min() < 0 or items[mask].max() >= n_items):
        raise DataError(f"recommended items: indices must be PAD or in [0, {n_items})")
    return items, mask


def exposure(items: np.ndarray, n_items: int) -> np.ndarray:
    """How many lists recommend each item (int64, length ``n_items``)."""
    items, mask = _counted(items, n_items)
    return np.bincount(items[mask], minlength=n_items)


def catalogue_coverage(items: np.ndarray, n_items: int) -> float:
    """Share of the ``n_items`` catalogue recommended at least once across all lists."""
    return float(np.mean(exposure(items, n_items) > 0)) if n_items else float("nan")


def gini(values: np.ndarray) -> float:
    """Gini coefficient of a non-negative distribution, e.g. :func:`exposure` over the catalogue.

    ``G = Σ_i (2i - n - 1) x_(i) / (n Σ x)`` over the ascending values ``x_(1..n)``: 0 when
    every item gets equal exposure, ``(n - 1) / n`` when one item gets all of it. NaN when
    the total is 0.
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size and x[0] < 0:
        raise DataError("gini: values must be ≥ 0")
    total = x.sum()
    if total <= 0:
        return float("nan")
    n = x.size
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / (n * total))


def _list_mean(items: np.ndarray, item_values: np.ndarray) -> np.ndarray:
    """Per-list mean of ``item_values`` over the counted slots (NaN for an empty list)."""
    items, mask = _counted(items, len(item_values))
    values = np.where(mask, item_values[np.where(mask, items, 0)], 0.0)
    n = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, values.sum(axis=1) / n, np.nan)


def average_recommended_popularity(items: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Per-list ARP: mean training popularity of the recommended items (mean over lists = ARP)."""
    return _list_mean(items, np.asarray(popularity, dtype=np.float64))


def novelty(items: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Per-list mean self-information ``-log2(pop_i / Σ pop)`` of the recommended items.

    ``pop_i / Σ pop`` is the item's share of all training interactions; an item without
    training interactions is treated as having one, so its novelty stays finite (the
    largest possible value, ``log2(Σ pop)``).
    """
    pop = np.asarray(popularity, dtype=np.float64)
    total = max(pop.sum(), 1.0)
    return _list_mean(items, -np.log2(np.maximum(pop, 1.0) / total))


def _unit_rows(features: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """Item features scaled to unit L2 norm per row (all-zero rows stay zero)."""
    if sp.issparse(features):
        f = sp.csr_matrix(features, dtype=np.float64)
        norms = np.sqrt(np.asarray(f.multiply(f).sum(axis=1)).ravel())
        return sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ f
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise DataError(f"item features: expected a 2-D matrix, got shape {f.shape}")
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    return np.divide(f, norms, out=np.zeros_like(f), where=norms > 0)


def intra_list_diversity(items: np.ndarray, features: np.ndarray | sp.spmatrix) -> np.ndarray:
    """Per-list mean pairwise cosine distance ``1 - cos(f_a, f_b)`` between counted items.

    ``features`` is a dense or sparse ``(n_items, d)`` matrix. An item with an all-zero
    feature vector is at distance 1 from every other item. NaN for lists with fewer than
    two counted items. Lists are processed in blocks (bounded memory), not one by one.
    """
    unit = _unit_rows(features)
    items, mask = _counted(items, unit.shape[0])
    n, k = items.shape
    out = np.full(n, np.nan)
    step = max(1, _FEATURE_BLOCK // max(1, k * unit.shape[1]))
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    for start in range(0, n, step):
        block, valid = np.where(mask, items, 0)[start:start + step], mask[start:start + step]
        vecs = unit[block.ravel()]
        vecs = (vecs.toarray() if sp.issparse(vecs) else vecs).reshape(len(block), k, -1)
        pairs = valid[:, :, None] & valid[:, None, :] & upper
        dist = 1.0 - np.einsum("nad,nbd->nab", vecs, vecs)
        n_pairs = pairs.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + step] = np.where(
                n_pairs > 0, (dist * pairs).sum(axis=(1, 2)) / n_pairs, np.nan)
    return out

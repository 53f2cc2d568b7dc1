"""Item-side exposure: long tail (APLT), exposure by category and calibration (Steck 2018).

Lists are ``(n, k)`` item-index arrays with PAD = -1 for empty slots; as in
:mod:`trustrec.evaluation.beyond` (which provides ARP, Gini and coverage), empty slots and
repeats of an item within a list do not count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trustrec.data import Dataset
from trustrec.data.labels import multi_hot
from trustrec.data.sparse import binarized
from trustrec.errors import DataError
from trustrec.evaluation.beyond import _counted

#: Default share of the catalogue's items, by popularity, that make up the short head.
HEAD_FRACTION = 0.2
#: Steck's smoothing of the list's category distribution in calibration KL.
CALIBRATION_ALPHA = 0.01


def long_tail_mask(popularity: np.ndarray, head_fraction: float = HEAD_FRACTION) -> np.ndarray:
    """Boolean (n_items,): True for long-tail items, i.e. all but the ``head_fraction`` most
    popular of the items with training interactions (ties broken by lower index).

    Items without training interactions are in the long tail.
    """
    if not 0.0 < head_fraction < 1.0:
        raise DataError(f"head_fraction must be in (0, 1), got {head_fraction}")
    pop = np.asarray(popularity, dtype=np.float64)
    n_head = round(head_fraction * int((pop > 0).sum()))
    order = np.argsort(-pop, kind="stable")
    tail = np.ones(len(pop), dtype=bool)
    tail[order[:n_head]] = False
    return tail


def _slots(lists: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    items, mask = _counted(lists, n_items)
    return np.where(mask, items, 0), mask


def aplt(lists: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Per-list share of long-tail items among the counted slots (mean over lists = APLT,
    Abdollahpouri et al. 2019); NaN for an empty list."""
    items, mask = _slots(lists, len(tail))
    n = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (tail[items] & mask).sum(axis=1) / n, np.nan)


def item_categories(items: pd.DataFrame | None, n_items: int,
                    column: str = "genres", sep: str = "|") -> tuple[sp.csr_matrix, list[str]]:
    """Item × category matrix (float64 CSR, each labelled item's row sums to 1) from the
    ``sep``-separated labels of an item-table column, and the category names (sorted).

    An item with ``g`` labels spreads its weight 1/g over them; unlabelled items have an
    empty row. No table or column: a matrix without columns.
    """
    if items is None or column not in items.columns:
        return sp.csr_matrix((n_items, 0)), []
    if len(items) != n_items:
        raise DataError(f"item table has {len(items)} rows, expected one per item ({n_items})")
    m, names = multi_hot(items[column], sep)
    counts = np.asarray(m.sum(axis=1)).ravel()
    m = sp.diags(np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)) @ m
    return m.tocsr(), names


def binary_history(train: Dataset) -> sp.csr_matrix:
    """Users × items 0/1 CSR of the training interactions."""
    return binarized(train.csr)


def list_matrix(lists: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Lists × items 0/1 CSR of the counted slots."""
    items, mask = _slots(lists, n_items)
    rows = np.repeat(np.arange(items.shape[0]), items.shape[1])[mask.ravel()]
    return sp.csr_matrix((np.ones(len(rows)), (rows, items.ravel()[mask.ravel()])),
                         shape=(items.shape[0], n_items))


def category_exposure(lists: np.ndarray, categories: sp.csr_matrix) -> np.ndarray:
    """Share of all counted slots that goes to each category (sums to 1 over the labelled
    items' slots; NaN without any)."""
    mass = np.asarray(list_matrix(lists, categories.shape[0]).sum(axis=0)).ravel() @ categories
    total = mass.sum()
    return mass / total if total > 0 else np.full(categories.shape[1], np.nan)


def _distributions(matrix: sp.csr_matrix, categories: sp.csr_matrix) -> np.ndarray:
    mass = np.asarray((matrix @ categories).todense())
    total = mass.sum(axis=1, keepdims=True)
    return np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)


def calibration_kl(lists: np.ndarray, users: np.ndarray, history: sp.csr_matrix,
                   categories: sp.csr_matrix, alpha: float = CALIBRATION_ALPHA) -> np.ndarray:
    """Per-list miscalibration ``KL(p ‖ q̃)`` (Steck 2018).

    ``p``: category distribution of user ``users[r]``'s ``history`` (users × items, values
    weigh the items), ``q``: that of list ``r``, ``q̃ = (1 − alpha)·q + alpha·p``. 0 when the
    list mirrors the history's category mix. NaN for users whose history or list has no
    labelled item.
    """
    p = _distributions(sp.csr_matrix(history)[np.asarray(users)], categories)
    q = _distributions(list_matrix(lists, categories.shape[0]), categories)
    return kl_divergence(p, q, alpha)


def kl_divergence(p: np.ndarray, q: np.ndarray, alpha: float = CALIBRATION_ALPHA) -> np.ndarray:
    """Row-wise ``Σ_g p log(p / q̃)`` with ``q̃ = (1 − alpha) q + alpha p`` over the last
    axis; NaN where ``p`` or ``q`` is all zero."""
    q_tilde = (1.0 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q_tilde), 0.0)
    out = terms.sum(axis=-1)
    return np.where((p.sum(axis=-1) > 0) & (q.sum(axis=-1) > 0), out, np.nan)

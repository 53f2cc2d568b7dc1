"""What a differentially private fit may take from its input, shared by the DP models.

* **A public item catalogue.** The shape and order of a DP model's arrays must not depend on
  who is in the data: an item that only one user rated would otherwise appear or vanish
  with that user. DP training therefore needs the catalogue from a public source (an item
  table, or an explicit item list given as a one-column ``item_id`` table) covering every
  interaction (:attr:`Dataset.public_catalogue`), and refuses otherwise.
* **Choices that depend on their own record alone.** Clipping keeps a sample of each
  user's items, and DP-SGD in ``ncf`` draws negative items for each interaction; which ones
  is decided by a keyed hash of (seed, user ID, item ID), not by a shared random stream.
  With a stream, removing one record shifts the draws of every later one, so "target in"
  and "target out" would differ in many clipped rows or training examples, not one, and the
  sensitivity bound would not hold against an attacker who knows the (public) seed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError


def require_public_catalogue(dataset: Dataset, model: str) -> None:
    """Refuse DP training on ``dataset`` unless its item index is a public catalogue."""
    if dataset.public_catalogue:
        return
    if dataset.items is None:
        why = "it has no item table, so its items are those of the interactions"
    else:
        why = "some interactions name items missing from its item table"
    raise ConfigError(
        f"model '{model}': differential privacy needs the item catalogue from a public "
        f"source, but dataset '{dataset.name}' cannot give one: {why}. With a catalogue "
        "taken from the interactions, removing the one user who rated an item changes the "
        "released matrix's shape. Pass the item table (--items, or a MovieLens folder's "
        "item file) or an explicit item list (Dataset.from_frame(..., "
        "items=pd.DataFrame({'item_id': ids}))) that lists every item")


def _id_hashes(ids: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each external ID (strings and integers alike)."""
    return pd.util.hash_array(np.asarray(ids))


def record_keys(seed: int, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """Pseudo-random uint64 keys, one per (user ID, item ID) pair, fixed by ``seed``: each
    key depends only on its own pair, never on which other pairs exist."""
    salt = int.from_bytes(hashlib.sha256(f"trustrec-dp-{seed}".encode()).digest()[:8], "big")
    with np.errstate(over="ignore"):
        mixed = (_id_hashes(user_ids) * np.uint64(0x9E3779B97F4A7C15)
                 + _id_hashes(item_ids) + np.uint64(salt))
    return pd.util.hash_array(mixed)


def clip_rows(x: sp.csr_matrix, max_items: int, keys: np.ndarray) -> sp.csr_matrix:
    """Binary ``x`` keeping in each row the ``max_items`` entries with the smallest ``keys``
    (one key per stored entry, in CSR order): a uniform sample per user when the keys are
    pseudo-random."""
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    order = np.lexsort((keys, rows))  # key order within each row
    rank = np.empty(x.nnz, dtype=np.int64)
    rank[order] = np.arange(x.nnz) - np.repeat(x.indptr[:-1], np.diff(x.indptr))
    keep = rank < max_items
    out = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], x.indices[keep])),
                        shape=x.shape)
    out.sort_indices()
    return out


def clipped_input(x: sp.csr_matrix, user_ids: np.ndarray, item_ids: np.ndarray,
                  max_items: int, seed: int) -> sp.csr_matrix:
    """Binary ``x`` with each user's items clipped to ``max_items`` by :func:`record_keys`
    (``user_ids``/``item_ids``: the external IDs of its rows and columns)."""
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    keys = record_keys(seed, user_ids[rows], item_ids[x.indices])
    return clip_rows(x, max_items, keys)


def keyed_draws(keys: np.ndarray, k: int, high: int) -> np.ndarray:
    """Integers in ``[0, high)``, shape ``(len(keys), k)``: draw j of row r is a hash of
    (``keys[r]``, j), so each row depends on its own key alone."""
    with np.errstate(over="ignore"):
        salted = keys[:, None] + np.arange(1, k + 1, dtype=np.uint64)[None, :]
    hashed = pd.util.hash_array(salted.ravel()) % np.uint64(high)
    return hashed.astype(np.int64).reshape(len(keys), k)


def scaled_rows(x: sp.csr_matrix, max_items: int) -> sp.csr_matrix:
    """Binary ``x`` with each row of c items scaled by ``a = min(1, (m(m+1) / (c(c+1)))^¼)``
    for ``m = max_items``: a user with at most m items counts in full, a heavier one keeps
    all their items at a lower weight. One row ``x̃ = a·1_c`` then moves the column sums by
    ``‖x̃‖₂ = a√c ≤ (m(m+1))^¼`` and the upper triangle (diagonal included) of ``X̃ᵀX̃``
    by ``a²√(c(c+1)/2) ≤ √(m(m+1)/2)`` — the bounds of keeping m items, with every item
    of the user still in. The weight depends on the row alone."""
    binary = x.astype(np.float64, copy=True)
    binary.data[:] = 1.0
    c = np.diff(binary.indptr).astype(np.float64)
    bound = max_items * (max_items + 1.0)
    weight = np.minimum(1.0, (bound / np.maximum(c * (c + 1.0), 1.0)) ** 0.25)
    binary.data *= np.repeat(weight, np.diff(binary.indptr))
    return binary

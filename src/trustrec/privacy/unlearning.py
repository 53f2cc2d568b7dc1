"""Unlearning: remove users from a trained model as if they had never been in its data.

:func:`forget_users` rebuilds the training data from the model's own state (every model
keeps the binary ``seen_`` matrix; item-item models with explicit input keep the values
too), drops the users' interactions *and* their IDs from the user index, and refits. That
is retraining from scratch without them, exactly. For EASE it is also fast: the inverse
``P = (XᵀX + Λ)⁻¹`` is recovered from the stored weights and down-dated by the Woodbury
identity for the removed rows (:func:`ease_downdate`), ``O(n_items² · r)`` for ``r`` touched
items instead of a new ``O(n_items³)`` inversion. With ``verify=True`` the result is
compared with a retrain from scratch and the largest score difference is reported.

Models whose fit reads more than the stored matrix (ratings for ``mf``, timestamps for
sequential models) need the original ``dataset`` passed in; it is checked against the
model's fingerprint. A differentially private model is refitted with fresh noise: the
result is a new release of the remaining data, distributed as a retrain (not equal to one),
and a loaded DP artifact holds no users to forget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.data.ids import IdIndex
from trustrec.errors import DataError, ModelError
from trustrec.models.base import Recommender
from trustrec.models.dp_release import PrivateRelease
from trustrec.models.itemitem import ItemItemRecommender

#: Models whose fit reads nothing but the binary interaction matrix (``seen_``), by name
#: and the configuration that makes it so.
_BINARY_INPUT = {
    "popularity": lambda cfg: cfg.by == "count",
    "als": lambda cfg: cfg.implicit,
    "bpr": lambda cfg: True,
    "dp_ease": lambda cfg: True,
}


@dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget_users` removed, how, in how long, and the retrain check if run."""

    users_removed: int
    interactions_removed: int
    method: str
    seconds: float
    verified: bool | None = None
    max_abs_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"users_removed": self.users_removed,
                "interactions_removed": self.interactions_removed, "method": self.method,
                "seconds": self.seconds, "verified": self.verified,
                "max_abs_diff": self.max_abs_diff}


def stored_training_data(model: Recommender) -> Dataset:
    """The training interactions as far as ``model`` stores them (``ModelError`` if its fit
    needs more than it keeps)."""
    seen = model.seen_
    if isinstance(model, ItemItemRecommender):
        values = model.input_.data
    elif model.name in _BINARY_INPUT and _BINARY_INPUT[model.name](model.config):
        values = np.ones(seen.nnz, np.float32)
    else:
        raise ModelError(f"model '{model.name}' ({model.config}) does not keep all the data "
                         "its fit reads; pass the training dataset "
                         "(forget_users(..., dataset=...), or --interactions)")
    users = np.repeat(np.arange(seen.shape[0], dtype=np.int32), np.diff(seen.indptr))
    return Dataset(user=users, item=seen.indices, value=values, user_index=model.user_index_,
                   item_index=model.item_index_, explicit=not np.all(values == 1),
                   name="stored", public_catalogue=isinstance(model, PrivateRelease))


def without_users(dataset: Dataset, users: np.ndarray) -> Dataset:
    """``dataset`` without the given user indices: their interactions and their index entries
    are gone; remaining users keep their order (side tables follow)."""
    keep = np.ones(dataset.n_users, dtype=bool)
    keep[users] = False
    new_code = np.cumsum(keep, dtype=np.int64) - 1
    rows = keep[dataset.user]
    return Dataset(
        user=new_code[dataset.user[rows]].astype(np.int32), item=dataset.item[rows],
        value=dataset.value[rows],
        timestamp=None if dataset.timestamp is None else dataset.timestamp[rows],
        user_index=IdIndex(dataset.user_index.ids[keep], dataset.user_index.kind),
        item_index=dataset.item_index, items=dataset.items,
        users=None if dataset.users is None else dataset.users[keep].reset_index(drop=True),
        explicit=dataset.explicit, rating_scale=dataset.rating_scale, name=dataset.name,
        public_catalogue=dataset.public_catalogue)


@numba.njit(cache=False, nogil=True)
def _row_pair_sums(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                   b: np.ndarray) -> np.ndarray:
    """For each stored entry (u, j) of a CSR matrix X: ``(X B)_uj = Σ_i x_ui B_ij`` over the
    row's own entries only (Σ_u |u|² work instead of a dense product)."""
    out = np.zeros(len(indices))
    for u in range(len(indptr) - 1):
        lo, hi = indptr[u], indptr[u + 1]
        for c in range(lo, hi):
            row, weight = indices[c], data[c]
            for a in range(lo, hi):
                out[a] += weight * b[row, indices[a]]
    return out


def _ease_inverse(model: ItemItemRecommender) -> tuple[np.ndarray, np.ndarray]:
    """``(P, diag(XᵀX))`` of a fitted EASE, recovered from its weights B without forming XᵀX.

    Zero-diagonal EASE has ``P[:, j] = p_j (e_j − B[:, j])`` and ``(XᵀX + Λ) P[:, j] = e_j``
    gives ``p_j = 1 / (A_jj − (XᵀX B)_jj)`` with ``(XᵀX B)_jj = Σ_u x_uj (X B)_uj``; DLAE has
    ``P = (I − B) Λ⁻¹``.
    """
    cfg, x = model.config, model.input_
    col_sq = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel()
    lam = cfg.l2 + cfg.dropout / (1.0 - cfg.dropout) * col_sq
    b = model.weights_.astype(np.float64)
    if cfg.zero_diagonal:
        pair = _row_pair_sums(x.indptr, x.indices, x.data.astype(np.float64), b)
        gb_diag = np.bincount(x.indices, weights=pair * x.data, minlength=len(col_sq))
        scale = 1.0 / (col_sq + lam - gb_diag)
    else:
        scale = 1.0 / lam
    p = np.negative(b, out=b)
    np.einsum("ii->i", p)[:] += 1.0
    p *= scale
    return p, col_sq


def ease_downdate(model: ItemItemRecommender, removed: sp.csr_matrix) -> np.ndarray:
    """EASE weights B after deleting the rows ``removed`` (of ``model.input_``) from X.

    ``A' = A + E_S M E_Sᵀ`` with ``M = −(X_Rᵀ X_R + c·diag(X_Rᵀ X_R))`` on the touched items
    S (``c``: the dropout penalty factor), so ``P' = P − P_{:S} (I + M P_SS)⁻¹ M P_{S:}``:
    ``O(n_items² · |S|)`` instead of a new ``O(n_items³)`` inversion.
    """
    cfg = model.config
    p, col_sq = _ease_inverse(model)
    touched = np.unique(removed.indices)
    xr = removed[:, touched].astype(np.float64).toarray()
    m = -(xr.T @ xr)
    np.einsum("ii->i", m)[:] *= 1.0 + cfg.dropout / (1.0 - cfg.dropout)
    p_s = p[:, touched].copy()
    core = np.eye(len(touched)) + m @ p_s[touched]
    p -= p_s @ np.linalg.solve(core, m @ p_s.T)
    p_diag = np.diagonal(p).copy()
    if cfg.zero_diagonal:
        p /= -p_diag
        np.fill_diagonal(p, 0.0)
    else:
        col_sq[touched] -= np.einsum("ij,ij->j", xr, xr)
        lam = cfg.l2 + cfg.dropout / (1.0 - cfg.dropout) * col_sq
        p *= -lam
        np.fill_diagonal(p, 1.0 - p_diag * lam)
    return p.astype(np.float32)


def _refit(model: Recommender, data: Dataset, weights: np.ndarray | None = None) -> Recommender:
    """A new model of ``model``'s class and configuration fitted on ``data``; ``weights``
    stand in for the item-item solve when given (the fit's bookkeeping runs as usual)."""
    fresh = type(model)(model.config)
    if weights is not None:
        fresh._fit_weights = lambda x: weights  # type: ignore[method-assign]
    fresh.fit(data)
    if weights is not None:
        del fresh._fit_weights
    return fresh


def forget_users(model: Recommender, user_ids: Sequence[object], *,
                 dataset: Dataset | None = None,
                 verify: bool = False) -> tuple[Recommender, ForgetReport]:
    """A copy of ``model`` that never saw ``user_ids`` (external IDs), and a report.

    The users' interactions and IDs are removed and the model is refitted exactly — by an
    inverse down-date for EASE, by a refit on the stored data otherwise. ``dataset``: the
    training data, needed only for models that do not store all they read (checked against
    the model's fingerprint). ``verify``: also retrain from scratch and compare all scores.
    Unknown IDs raise :class:`~trustrec.errors.UnknownIdError`; ``model`` is not modified.
    """
    model._check_fitted()
    start = time.perf_counter()
    users = np.unique(model.user_index_.lookup(np.asarray(user_ids), what="user"))
    if dataset is None:
        data = stored_training_data(model)
    elif dataset.fingerprint() != model.fingerprint_:
        raise DataError(f"forget_users: dataset '{dataset.name}' is not the data model "
                        f"'{model.name}' was trained on (fingerprints differ)")
    else:
        data = dataset
    remaining = without_users(data, users)
    removed = len(data) - len(remaining)
    if model.name == "ease" and isinstance(model, ItemItemRecommender):
        weights = ease_downdate(model, model.input_[users])
        new, method = _refit(model, remaining, weights), "ease-woodbury-downdate"
    else:
        new, method = _refit(model, remaining), "refit"
    seconds = time.perf_counter() - start
    verified = diff = None
    if verify:
        reference = _refit(model, remaining)
        all_users = np.arange(new.n_users_)
        diff = float(np.abs(new.score(all_users) - reference.score(all_users)).max()) \
            if new.n_users_ else 0.0
        scale = float(np.abs(reference.score(all_users)).max()) if new.n_users_ else 1.0
        verified = diff <= 1e-3 * max(1.0, scale)
    return new, ForgetReport(users_removed=len(users), interactions_removed=removed,
                             method=method, seconds=seconds, verified=verified,
                             max_abs_diff=diff)

"""Per-user profile features for shilling detection, all vectorised over interactions.

Classic rating statistics (Chirita et al. 2005; Williams, Mobasher & Burke 2007):
``rdma`` (rating deviation from mean agreement), ``wdma`` (weighted deviation from mean
agreement), ``wda`` (weighted degree of agreement), ``length_var`` (length variance),
``degsim`` (mean similarity with the k nearest neighbours), ``mean_var`` (mean squared
deviation of the filler ratings from the item means) and ``fmtd`` (filler mean target
difference; the user's highest-rated items stand for the targets). Added: the popularity
profile (mean and spread of log item popularity, share of long-tail items), the rating
spread, and when timestamps exist the largest share of a user's events in one day.
:func:`embedding_features` adds behaviour-embedding features for the supervised detector.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trustrec.data.dataset import Dataset
from trustrec.robustness.generative import projection

FEATURES = ("rdma", "wdma", "wda", "length_var", "degsim", "mean_var", "fmtd",
            "log_pop_mean", "log_pop_std", "tail_share", "rating_std", "day_burst")


def _per_user(user: np.ndarray, weights: np.ndarray, n_users: int) -> np.ndarray:
    return np.bincount(user, weights=weights, minlength=n_users)


def nearest_similarity(x: sp.csr_matrix, k: int, block: int = 2048) -> np.ndarray:
    """Mean dot product of each row of ``x`` (unit rows) with its ``k`` most similar other
    rows, computed in row blocks."""
    xt = x.T.tocsr()
    k = max(1, min(k, x.shape[0] - 1))
    out = np.zeros(x.shape[0])
    for start in range(0, x.shape[0], block):
        sim = np.asarray((x[start:start + block] @ xt).todense())
        rows = np.arange(sim.shape[0])
        sim[rows, rows + start] = -np.inf
        out[start:start + block] = -np.partition(-sim, k - 1, axis=1)[:, :k].mean(axis=1)
    return out


def degsim(dataset: Dataset, k: int = 25) -> np.ndarray:
    """Mean Pearson similarity (cosine of user-centred ratings; plain cosine on implicit
    data) of each user with their ``k`` most similar users."""
    x = dataset.csr.astype(np.float64)
    if dataset.explicit:
        counts = np.maximum(np.diff(x.indptr), 1)
        means = np.asarray(x.sum(axis=1)).ravel() / counts
        x.data -= np.repeat(means, np.diff(x.indptr))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return nearest_similarity(sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x), k)


def profile_features(dataset: Dataset, k: int = 25) -> np.ndarray:
    """(n_users, len(FEATURES)) feature matrix; users without interactions get zeros."""
    ds = dataset
    user, item, value = ds.user, ds.item, ds.value.astype(np.float64)
    n = ds.n_users
    n_u = np.bincount(user, minlength=n).astype(np.float64)
    len_u = np.maximum(n_u, 1.0)
    nr = np.maximum(ds.item_counts().astype(np.float64), 1.0)
    item_mean = np.bincount(item, weights=value, minlength=ds.n_items) / nr
    dev = np.abs(value - item_mean[item])
    rdma = _per_user(user, dev / nr[item], n) / len_u
    wdma = _per_user(user, dev / nr[item] ** 2, n) / len_u
    wda = _per_user(user, dev / nr[item], n)
    active = n_u > 0
    centred = n_u - n_u[active].mean()
    length_var = np.abs(centred) / max(float((centred[active] ** 2).sum()), 1e-12) * active.sum()

    user_max = np.full(n, -np.inf)
    np.maximum.at(user_max, user, value)
    top = value == user_max[user]
    n_fill = np.maximum(_per_user(user, (~top).astype(float), n), 1.0)
    n_top = np.maximum(_per_user(user, top.astype(float), n), 1.0)
    mean_var = _per_user(user, np.where(top, 0.0, (value - item_mean[item]) ** 2), n) / n_fill
    fmtd = np.abs(_per_user(user, np.where(top, value, 0.0), n) / n_top
                  - _per_user(user, np.where(top, 0.0, value), n) / n_fill)
    fmtd[_per_user(user, (~top).astype(float), n) == 0] = 0.0

    log_pop = np.log(nr)[item]
    pop_mean = _per_user(user, log_pop, n) / len_u
    pop_std = np.sqrt(np.clip(_per_user(user, log_pop ** 2, n) / len_u - pop_mean ** 2, 0, None))
    tail = _per_user(user, (nr[item] <= np.median(nr[ds.item_counts() > 0])).astype(float),
                     n) / len_u
    r_mean = _per_user(user, value, n) / len_u
    r_std = np.sqrt(np.clip(_per_user(user, value ** 2, n) / len_u - r_mean ** 2, 0, None))
    burst = np.zeros(n)
    if ds.timestamp is not None:
        day = ds.timestamp // 86_400
        keys, counts = np.unique(user.astype(np.int64) * (int(day.max()) + 1) + day,
                                 return_counts=True)
        np.maximum.at(burst, keys // (int(day.max()) + 1), counts.astype(float))
        burst /= len_u
    cols = [rdma, wdma, wda, length_var, degsim(ds, k), mean_var, fmtd, pop_mean, pop_std,
            tail, r_std, burst]
    return np.column_stack(cols) * active[:, None]


def embedding_features(dataset: Dataset, dim: int = 16, k: int = 10,
                       seed: int = 0) -> np.ndarray:
    """Behaviour-embedding features that do not depend on the SVD's arbitrary basis: the
    share of a profile explained by the top ``dim`` directions, and the mean cosine with
    the ``k`` nearest users in that embedding. (n_users, 2)."""
    proj = projection(dataset, dim, seed)
    energy = (proj ** 2).sum(axis=1)
    emb = sp.csr_matrix(proj / np.maximum(np.sqrt(energy), 1e-12)[:, None])
    return np.column_stack([energy, nearest_similarity(emb, k)])

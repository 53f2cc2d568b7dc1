"""User-level membership inference: can an attacker tell whether a user's data trained a model?

Setup (:func:`membership_split`): users are split into *members*, whose whole history
trains the model, and *non-members*, of whom only a query part ``A`` trains it; everyone's
held part ``B`` is what a member's training set adds. Two attacks score each user, a
higher score meaning "member":

* **threshold attack** (:func:`held_item_ranks`): the mean percentile rank of the user's
  held items B among all items in the model's scores for the user's query part A
  (:func:`user_scores`). A model that memorised B ranks it higher for members than
  generalisation does for non-members.
* **shadow-model attack** of Zhang et al. (CCS 2021, "Membership inference attacks against
  recommender systems"): the attacker trains a shadow model of the same kind on disjoint
  data with known membership, embeds items by a truncated SVD of that data, describes
  each user by the difference between the centroids of their history and of their
  recommendation list (:func:`list_features`), and fits a logistic regression
  (:func:`fit_logistic`) that is then applied to the target's users.

Both are judged by AUC and the true-positive rate at 1 % false-positive rate
(:func:`attack_metrics`): 0.5 and 0.01 are what guessing achieves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from scipy.stats import rankdata

from trustrec.data.dataset import Dataset
from trustrec.data.sparse import binarized
from trustrec.errors import DataError
from trustrec.models.base import Recommender
from trustrec.models.topk import top_k


@dataclass(frozen=True)
class AttackResult:
    """One attack's success: AUC and TPR at 1 % FPR over members vs non-members."""

    attack: str
    auc: float
    tpr_at_1pct_fpr: float
    n_members: int
    n_nonmembers: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"attack": self.attack, "auc": self.auc, "tpr@1%fpr": self.tpr_at_1pct_fpr,
                "members": self.n_members, "nonmembers": self.n_nonmembers}


def attack_metrics(member: np.ndarray, nonmember: np.ndarray) -> tuple[float, float]:
    """``(AUC, TPR at 1 % FPR)`` of attack scores (higher: more likely a member)."""
    member, nonmember = np.asarray(member, float), np.asarray(nonmember, float)
    if not (len(member) and len(nonmember)):
        raise DataError("attack_metrics: need at least one member and one non-member score")
    ranks = rankdata(np.concatenate([member, nonmember]))  # ties get average ranks
    n_m, n_n = len(member), len(nonmember)
    auc = (ranks[:n_m].sum() - n_m * (n_m + 1) / 2) / (n_m * n_n)
    threshold = np.quantile(nonmember, 0.99, method="higher")
    return float(auc), float(np.mean(member > threshold))


@dataclass(frozen=True)
class MembershipSplit:
    """Training data of an audited model and, per user index, the query part A and the held
    part B of every audited user (members: A ∪ B trained; non-members: A only)."""

    train: Dataset
    members: np.ndarray
    nonmembers: np.ndarray
    query: sp.csr_matrix
    held: sp.csr_matrix


def _binary(dataset: Dataset, mask: np.ndarray) -> sp.csr_matrix:
    return binarized(sp.csr_matrix((np.ones(int(mask.sum()), np.float32),
                                    (dataset.user[mask], dataset.item[mask])),
                                   shape=(dataset.n_users, dataset.n_items)))


def membership_split(dataset: Dataset, members: np.ndarray, nonmembers: np.ndarray,
                     seed: int = 0, held_fraction: float = 0.5) -> MembershipSplit:
    """Train on members' whole histories plus non-members' query parts (a random
    ``1 − held_fraction`` of each of their interactions); other users are left out."""
    rng = np.random.default_rng(seed)
    held = rng.random(len(dataset)) < held_fraction
    is_member = np.isin(dataset.user, members)
    is_nonmember = np.isin(dataset.user, nonmembers)
    audited = is_member | is_nonmember
    return MembershipSplit(
        train=dataset.filter(is_member | (is_nonmember & ~held), name=f"{dataset.name}-mia"),
        members=np.sort(members).astype(np.int32),
        nonmembers=np.sort(nonmembers).astype(np.int32),
        query=_binary(dataset, audited & ~held), held=_binary(dataset, audited & held))


def held_item_ranks(scores: np.ndarray, held: sp.csr_matrix) -> np.ndarray:
    """Per row: mean percentile rank (0–1, 1 = top) of the row's held items in ``scores``
    (rows of ``scores`` and ``held`` aligned); NaN for rows without held items."""
    pct = (rankdata(scores, axis=1) - 1.0) / max(1, scores.shape[1] - 1)
    counts = np.diff(held.indptr)
    sums = np.asarray(held.multiply(pct).sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def history_scores(model: Recommender, histories: sp.csr_matrix) -> np.ndarray:
    """Scores (rows × n_items) of ``model`` for each row of ``histories`` given at call time
    (no trained user needed: works for forgotten and new users alike)."""
    out = np.empty(histories.shape, dtype=np.float32)
    for row in range(histories.shape[0]):  # one call per user: an audit, not a hot path
        items = histories.indices[histories.indptr[row]:histories.indptr[row + 1]]
        out[row] = model.score_history(items)
    return out


def item_embeddings(interactions: sp.csr_matrix, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Item vectors (n_items × dim) from a truncated SVD of a binary user × item matrix."""
    x = interactions.astype(np.float64)
    dim = max(1, min(dim, min(x.shape) - 1))
    v0 = np.random.default_rng(seed).random(min(x.shape))
    _u, s, vt = svds(x, k=dim, v0=v0)
    return (vt.T * np.sqrt(s)).astype(np.float64)


def _centroids(rows: sp.csr_matrix, embeddings: np.ndarray) -> np.ndarray:
    counts = np.maximum(np.diff(rows.indptr), 1)[:, None]
    return np.asarray(rows @ embeddings) / counts


def user_scores(model: Recommender, users: np.ndarray, query: sp.csr_matrix) -> np.ndarray:
    """Scores (len(users) × n_items) an attacker sees for ``users``.

    Models that score a history given at call time are asked with each user's query part
    (rows of ``query``), so members and non-members are scored from the same information
    and only what the parameters memorised can tell them apart; other models (whose user
    vectors are the memory) are asked for the trained users.
    """
    if type(model)._score_history is not Recommender._score_history:
        return history_scores(model, query[users])
    return model.score(users)


def list_features(scores: np.ndarray, history: sp.csr_matrix, embeddings: np.ndarray,
                  k: int = 10) -> np.ndarray:
    """Zhang et al.'s feature per row: centroid of the user's ``history`` minus centroid of
    the top-``k`` list from ``scores`` (history items excluded), in the ``embeddings`` space,
    followed by that difference's length and the two centroids' cosine."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    scores[history.nonzero()] = -np.inf
    items, _ = top_k(scores, k)
    valid = items >= 0
    recs = sp.csr_matrix((np.ones(int(valid.sum())), items[valid],
                          np.concatenate([[0], np.cumsum(valid.sum(axis=1))])),
                         shape=(len(scores), embeddings.shape[0]))
    hist, rec = _centroids(history, embeddings), _centroids(recs, embeddings)
    diff = hist - rec
    norms = np.linalg.norm(hist, axis=1) * np.linalg.norm(rec, axis=1)
    cosine = np.einsum("ij,ij->i", hist, rec) / np.maximum(norms, 1e-12)
    return np.column_stack([diff, np.linalg.norm(diff, axis=1), cosine])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3,
                 iterations: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2-regularised logistic regression by Newton's method on standardised features.

    Returns ``(weights, mean, scale)``; score new rows with :func:`logistic_scores`.
    """
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-12
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2 * len(x))
    reg[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + reg * w
        hess = (z.T * (p * (1 - p))) @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w, mean, scale


def logistic_scores(model: tuple[np.ndarray, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Linear logits of a :func:`fit_logistic` model for rows ``x`` (monotone in probability)."""
    w, mean, scale = model
    return ((x - mean) / scale) @ w[:-1] + w[-1]

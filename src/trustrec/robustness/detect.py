"""Shilling detectors: unsupervised profile outliers, a supervised classifier, a group
detector for co-ordinated accounts, and a text detector for manipulated item descriptions.

Every detector returns a :class:`Detection` (a score per user or item, higher = more
suspicious, and boolean flags); :func:`detection_metrics` compares it with ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError, ModelError
from trustrec.robustness.boosting import BoostedStumps
from trustrec.robustness.features import (
    embedding_features,
    profile_features,
)


@dataclass(frozen=True, eq=False)
class Detection:
    """Suspicion ``scores`` and boolean ``flags`` per user (or item) index."""

    scores: np.ndarray
    flags: np.ndarray
    method: str

    def to_dict(self) -> dict[str, Any]:
        """Summary: method and number flagged."""
        return {"method": self.method, "n_flagged": int(self.flags.sum())}


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN unless both classes occur."""
    labels = np.asarray(labels, bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def detection_metrics(labels: np.ndarray, detection: Detection,
                      among: np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall, F1, false-positive rate and AUC of ``detection`` against
    ``labels``, over the indices where ``among`` (boolean) holds (all by default)."""
    keep = np.ones(len(labels), bool) if among is None else np.asarray(among, bool)
    y, flag, score = np.asarray(labels, bool)[keep], detection.flags[keep], \
        detection.scores[keep]
    tp, fp = int((flag & y).sum()), int((flag & ~y).sum())
    fn = int((~flag & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "fpr": fp / max(1, int((~y).sum())), "auc": auc(y, score)}


def robust_z(x: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Columns of ``x`` centred on the median and scaled by 1.4826·MAD of ``reference``
    rows (all rows by default; the standard deviation where the MAD is zero)."""
    ref = x if reference is None else x[reference]
    med = np.median(ref, axis=0)
    mad = 1.4826 * np.median(np.abs(ref - med), axis=0)
    scale = np.where(mad > 0, mad, ref.std(axis=0))
    return (x - med) / np.where(scale > 0, scale, 1.0)


def _active(dataset: Dataset) -> np.ndarray:
    return dataset.user_counts() > 0


def unsupervised_detect(dataset: Dataset, threshold: float = 6.0,
                        contamination: float | None = None,
                        features: np.ndarray | None = None) -> Detection:
    """Robust outlier score of the profile features: the root mean square of their robust
    z-scores (a diagonal robust Mahalanobis distance). Flags the ``contamination`` share of
    active users with the highest scores when given (as an isolation forest would), else
    users whose score lies more than ``threshold`` robust z-units above the median score.
    Users without interactions score 0."""
    active = _active(dataset)
    x = profile_features(dataset) if features is None else features
    score = np.sqrt((robust_z(x, active) ** 2).mean(axis=1)) * active
    if contamination is not None:
        if not 0 < contamination < 1:
            raise ConfigError(f"contamination must be in (0, 1), got {contamination!r}")
        cut = np.quantile(score[active], 1 - contamination)
        flags = (score > cut) & active
    else:
        flags = (robust_z(score[:, None], active)[:, 0] > threshold) & active
    return Detection(score, flags, "outlier")


def detector_features(dataset: Dataset, seed: int = 0) -> np.ndarray:
    """Profile features plus behaviour-embedding features (the supervised detector's
    input), robust-standardised within ``dataset`` so that they transfer across datasets."""
    x = np.hstack([profile_features(dataset), embedding_features(dataset, seed=seed)])
    return robust_z(x, _active(dataset))


class SupervisedDetector:
    """Gradient-boosted stumps on :func:`detector_features`, trained on labelled attacked
    datasets. Flags users whose fake probability exceeds ``threshold``."""

    def __init__(self, threshold: float = 0.5, n_rounds: int = 200, seed: int = 0) -> None:
        self.threshold, self.seed = threshold, seed
        self.model = BoostedStumps(n_rounds=n_rounds)

    def fit(self, examples: list[tuple[np.ndarray, np.ndarray]]) -> SupervisedDetector:
        """Train on ``(features, labels)`` pairs (rows = users to learn from)."""
        if not examples:
            raise ModelError("SupervisedDetector.fit: no training examples")
        x = np.vstack([f for f, _ in examples])
        y = np.concatenate([lab for _, lab in examples])
        self.model.fit(x, y)
        return self

    def detect(self, dataset: Dataset, features: np.ndarray | None = None) -> Detection:
        """Fake probability and flags for every user of ``dataset``."""
        x = detector_features(dataset, self.seed) if features is None else features
        prob = self.model.predict_proba(x) * _active(dataset)
        return Detection(prob, prob > self.threshold, "supervised")


def group_detect(dataset: Dataset, min_group: int = 5, min_agreement: float = 0.8,
                 min_pairs: int = 2) -> Detection:
    """Co-ordinated accounts, from the co-rating graph of explicit ratings. An item pair is
    *suspicious* when at least ``min_group`` users gave both items the highest rating and
    they make up at least ``min_agreement`` of all users who rated both — what a group of
    accounts pushing the same items leaves behind, while genuine co-raters disagree now
    and then. A user's score is the number of suspicious pairs among the items they gave
    the highest rating; users with at least ``min_pairs`` are flagged (so a push of a
    single item, which makes no pair, is out of its reach)."""
    if not dataset.explicit:
        raise ConfigError("group_detect needs explicit ratings (agreement at the highest "
                          f"rating); dataset {dataset.name!r} is implicit")
    if min_group < 2 or not 0 < min_agreement <= 1 or min_pairs < 1:
        raise ConfigError(f"group_detect: need min_group ≥ 2, 0 < min_agreement ≤ 1, "
                          f"min_pairs ≥ 1; got {min_group}, {min_agreement}, {min_pairs}")
    rated = dataset.csr.copy()
    rated.data[:] = 1.0
    top = dataset.csr >= dataset.value.max()
    top = sp.csr_matrix(top, dtype=np.float64)
    co_top = (top.T @ top).tocsr()
    co_all = (rated.T @ rated).tocsr()
    agreement = co_top.multiply(co_all.power(-1.0)).tocsr()
    hot = co_top.copy()
    hot.data = ((co_top.data >= min_group) & (agreement.data >= min_agreement)).astype(float)
    hot.setdiag(0)
    hot.eliminate_zeros()
    score = np.asarray((top @ hot).multiply(top).sum(axis=1)).ravel() / 2.0
    return Detection(score, score >= min_pairs, "group")


def text_detect(vectors: np.ndarray, texts: list[str], categories: pd.Series | None = None,
                threshold: float = 3.5) -> Detection:
    """Manipulated item texts: robust z-scores of (a) the cosine distance of an item's text
    vector from the mean vector of its category (first genre; all items when no categories)
    and (b) term density anomalies (share of repeated words, words per text); the score is
    the largest, items above ``threshold`` are flagged."""
    vectors = np.asarray(vectors, np.float64)
    group = np.zeros(len(vectors), np.int64) if categories is None else \
        pd.factorize(categories.fillna("").astype(str).str.split("|").str[0])[0]
    centre = np.zeros((group.max() + 1, vectors.shape[1]))
    np.add.at(centre, group, vectors)
    centre /= np.maximum(np.linalg.norm(centre, axis=1, keepdims=True), 1e-12)
    distance = 1.0 - (vectors * centre[group]).sum(axis=1)
    words = pd.Series(texts).str.lower().str.findall(r"[a-z']+")
    n_words = words.str.len().to_numpy(np.float64)
    repeated = 1.0 - words.map(lambda w: len(set(w))).to_numpy(np.float64) / \
        np.maximum(n_words, 1)
    dist_z = np.zeros(len(vectors))
    for g in np.unique(group):  # one pass per category, not per item
        members = group == g
        dist_z[members] = robust_z(distance[members, None])[:, 0]
    z = np.column_stack([dist_z, robust_z(repeated[:, None])[:, 0],
                         robust_z(np.log1p(n_words)[:, None])[:, 0]])
    score = z.max(axis=1)
    return Detection(score, score > threshold, "text")

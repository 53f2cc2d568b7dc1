"""Fairness audit: per-group accuracy with intervals, gaps with a significance test, and the
item side (long tail, exposure inequality, categories, calibration) of a model's lists.

Accuracy comes from :func:`trustrec.evaluation.evaluate_ranking` (full ranking, the model is
trusted with nothing but its lists); the lists it asked for are recorded and measured again
for exposure. Group means get percentile-bootstrap intervals
(:func:`~trustrec.evaluation.intervals.bootstrap_ci`). The gap of a metric is the largest
minus the smallest group mean (absolute) and that over the largest (relative); its p-value
comes from a permutation test of the gap statistic (group labels shuffled across users,
valid for any number of groups), and Welch's t-test compares the best and the worst group
(for ARP and calibration KL lower is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from trustrec.data import Dataset, Recommendations
from trustrec.errors import ConfigError, DataError
from trustrec.evaluation import EvaluationResult, evaluate_ranking
from trustrec.evaluation.intervals import bootstrap_ci
from trustrec.evaluation.protocol import RankingModel
from trustrec.evaluation.result import json_float as _json
from trustrec.fairness.exposure import (
    HEAD_FRACTION,
    aplt,
    binary_history,
    calibration_kl,
    category_exposure,
    item_categories,
    long_tail_mask,
)
from trustrec.fairness.groups import UserGroups, activity_groups

#: Metrics where a lower value is better (the best group has the lowest mean).
LOWER_IS_BETTER = frozenset({"arp", "calibration_kl"})


@dataclass(frozen=True)
class GroupGap:
    """Gap of one metric across groups: the best and the worst group (lower is better for
    :data:`LOWER_IS_BETTER` metrics), the absolute difference of their means, that over the
    larger of the two means (relative), the permutation-test p-value of the gap and Welch's
    p-value of best vs worst."""

    metric: str
    best: str
    worst: str
    absolute: float
    relative: float
    p_value: float
    welch_p: float
    #: The same difference within strata of users (activity terciles), averaged by the
    #: number of the two groups' users in each: the part of the gap that remains between
    #: equally active users (NaN without strata).
    adjusted: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"metric": self.metric, "best": self.best, "worst": self.worst,
                "absolute": _json(self.absolute), "relative": _json(self.relative),
                "p_value": _json(self.p_value), "welch_p": _json(self.welch_p),
                "adjusted": _json(self.adjusted)}


@dataclass(frozen=True)
class GroupAudit:
    """Per-group means with intervals (``rows``: one dict per group) and the gaps."""

    column: str
    rows: list[dict[str, Any]]
    gaps: dict[str, GroupGap]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"column": self.column,
                "groups": [{k: _json(v) if isinstance(v, float) else v for k, v in r.items()}
                           for r in self.rows],
                "gaps": {m: g.to_dict() for m, g in self.gaps.items()}}


@dataclass(frozen=True)
class FairnessReport:
    """What a fairness audit measured: overall metrics (accuracy and exposure), per-group
    audits keyed by column, and the exposure share of each item category."""

    model: str
    k: int
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    groups: dict[str, GroupAudit]
    categories: dict[str, dict[str, float]] = field(default_factory=dict)
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → None)."""
        return {
            "model": self.model, "k": self.k, "confidence": self.confidence,
            "metrics": {m: _json(v) for m, v in self.metrics.items()},
            "intervals": {m: [_json(lo), _json(hi)] for m, (lo, hi) in self.intervals.items()},
            "groups": {c: g.to_dict() for c, g in self.groups.items()},
            "categories": {c: {m: _json(v) for m, v in row.items()}
                           for c, row in self.categories.items()},
        }


def _group_means(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of ``values`` per group code (rows of ``codes`` are permutations when 2-D)."""
    codes2 = np.atleast_2d(codes)
    offset = (np.arange(codes2.shape[0])[:, None] * n_groups + codes2).ravel()
    size = codes2.shape[0] * n_groups
    sums = np.bincount(offset, weights=np.tile(values, codes2.shape[0]), minlength=size)
    counts = np.bincount(offset, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums / counts).reshape(codes2.shape[0], n_groups)
    return means if codes.ndim == 2 else means[0]


def permutation_p_value(values: np.ndarray, codes: np.ndarray, n_perm: int = 1000,
                        seed: int = 0) -> float:
    """p-value of the gap (max − min of the group means) under random relabelling of users.

    ``codes``: group code per value (≥ 0). Uses ``(1 + #{perm gap ≥ observed}) / (1 + n_perm)``
    (never 0). NaN with fewer than two groups.
    """
    values = np.asarray(values, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    if values.shape != codes.shape:
        raise DataError(f"values {values.shape} and codes {codes.shape} must align")
    uniq, codes = np.unique(codes, return_inverse=True)
    if len(uniq) < 2:
        return float("nan")
    observed = np.ptp(_group_means(values, codes, len(uniq)))
    rng = np.random.default_rng(seed)
    step = max(1, (1 << 22) // max(1, len(values)))
    exceed = 0
    for start in range(0, n_perm, step):
        perms = rng.permuted(np.tile(codes, (min(step, n_perm - start), 1)), axis=1)
        gaps = np.ptp(_group_means(values, perms, len(uniq)), axis=1)
        exceed += int((gaps >= observed - 1e-12).sum())
    return (1 + exceed) / (1 + n_perm)


def _adjusted_gap(values: np.ndarray, codes: np.ndarray, strata: np.ndarray, high: int,
                  low: int) -> float:
    """Mean of group ``high`` minus group ``low`` within each stratum holding both, averaged
    with the two groups' user counts as weights (NaN when no stratum holds both)."""
    gaps, weights = [], []
    for s in np.unique(strata[strata >= 0]):  # a handful of strata
        a, b = values[(codes == high) & (strata == s)], values[(codes == low) & (strata == s)]
        if a.size and b.size:
            gaps.append(a.mean() - b.mean())
            weights.append(a.size + b.size)
    return float(np.average(gaps, weights=weights)) if gaps else float("nan")


def group_audit(per_user: dict[str, np.ndarray], users: np.ndarray, groups: UserGroups,
                metrics: Sequence[str], *, strata: UserGroups | None = None,
                confidence: float = 0.95, n_boot: int = 1000, n_perm: int = 1000,
                seed: int = 0) -> GroupAudit:
    """Per-group mean and bootstrap interval of each per-user metric, and its gap.

    ``per_user[m]`` is aligned with ``users`` (NaN where undefined); users without a group
    are left out. Groups with fewer than two users get no interval. With ``strata`` (e.g.
    activity groups) each gap also gets its within-strata value (``GroupGap.adjusted``).
    """
    codes = groups.codes[np.asarray(users)]
    rows: list[dict[str, Any]] = []
    gaps: dict[str, GroupGap] = {}
    for g, name in enumerate(groups.names):
        row: dict[str, Any] = {"group": name, "users": int((codes == g).sum())}
        for m in metrics:
            vals = per_user[m][(codes == g) & ~np.isnan(per_user[m])]
            row[m] = float(vals.mean()) if vals.size else float("nan")
            row[f"{m}_lo"], row[f"{m}_hi"] = bootstrap_ci(vals, n_boot, confidence, seed) \
                if vals.size > 1 else (float("nan"), float("nan"))
        rows.append(row)
    for m in metrics:
        means = np.array([r[m] for r in rows])
        present = np.flatnonzero(~np.isnan(means))
        if len(present) < 2:
            continue
        high, low = present[np.argmax(means[present])], present[np.argmin(means[present])]
        best, worst = (low, high) if m in LOWER_IS_BETTER else (high, low)
        keep = (codes >= 0) & ~np.isnan(per_user[m])
        a = per_user[m][keep & (codes == best)]
        b = per_user[m][keep & (codes == worst)]
        welch = stats.ttest_ind(a, b, equal_var=False).pvalue if min(a.size, b.size) > 1 \
            else float("nan")
        absolute = float(means[high] - means[low])
        gaps[m] = GroupGap(
            metric=m, best=groups.names[best], worst=groups.names[worst], absolute=absolute,
            relative=absolute / float(means[high]) if means[high] > 0 else float("nan"),
            p_value=permutation_p_value(per_user[m][keep], codes[keep], n_perm, seed),
            welch_p=float(welch),
            adjusted=float("nan") if strata is None or strata.column == groups.column else
            _adjusted_gap(per_user[m][keep], codes[keep], strata.codes[users][keep], high, low))
    return GroupAudit(groups.column, rows, gaps)


class _Recorder:
    """Wraps a ranking model and keeps every list it returns (in the order asked)."""

    def __init__(self, model: RankingModel) -> None:
        self.model = model
        self.name = getattr(model, "name", type(model).__name__)
        self.parts: list[Recommendations] = []

    def recommend(self, users: np.ndarray, k: int, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None) -> Recommendations:
        recs = self.model.recommend(users, k, exclude_seen=exclude_seen, candidates=candidates)
        self.parts.append(recs)
        return recs


def evaluate_with_lists(model: RankingModel, train: Dataset, test: Dataset, k: int = 10, *,
                        seed: int = 0, n_boot: int = 1000, confidence: float = 0.95,
                        name: str | None = None) -> tuple[EvaluationResult, np.ndarray]:
    """:func:`evaluate_ranking` plus the ``(n_users_evaluated, k)`` lists it measured."""
    recorder = _Recorder(model)
    result = evaluate_ranking(recorder, train, test, k, seed=seed, n_boot=n_boot,
                              confidence=confidence, name=name or recorder.name)
    lists = np.concatenate([p.items[:, :k] for p in recorder.parts]).astype(np.int64)
    return result, lists


def fairness_report(result: EvaluationResult, lists: np.ndarray, train: Dataset,
                    groups: Sequence[UserGroups] = (), *, head_fraction: float = HEAD_FRACTION,
                    category_column: str = "genres", n_boot: int = 1000, n_perm: int = 1000,
                    seed: int = 0) -> FairnessReport:
    """The fairness report of an evaluation and the lists it measured (aligned with
    ``result.users``): group audits of NDCG/recall and per-user APLT, ARP and calibration,
    each gap also within training-activity terciles (``GroupGap.adjusted``)."""
    k = int(result.k or lists.shape[1])
    tail = long_tail_mask(train.item_counts(), head_fraction)
    cats, names = item_categories(train.items, train.n_items, category_column)
    per_user = dict(result.per_user)
    per_user["aplt"] = aplt(lists, tail)
    if names:
        history = binary_history(train)
        per_user["calibration_kl"] = calibration_kl(lists, result.users, history, cats)
    metrics = {m: result.metrics[m] for m in (f"ndcg@{k}", f"recall@{k}", "arp", "coverage",
                                              "gini") if m in result.metrics}
    intervals = {m: result.intervals[m] for m in metrics if m in result.intervals}
    for m in ("aplt", "calibration_kl"):
        if m in per_user:
            vals = per_user[m][~np.isnan(per_user[m])]
            metrics[m] = float(vals.mean()) if vals.size else float("nan")
            intervals[m] = bootstrap_ci(vals, n_boot, result.confidence, seed)
    audited = [f"ndcg@{k}", f"recall@{k}", "aplt", "arp"] + \
        (["calibration_kl"] if names else [])
    activity = activity_groups(train)
    audits = {g.column: group_audit(per_user, result.users, g, audited, strata=activity,
                                    confidence=result.confidence, n_boot=n_boot,
                                    n_perm=n_perm, seed=seed)
              for g in groups}
    categories: dict[str, dict[str, float]] = {}
    if names:
        shown = category_exposure(lists, cats)
        catalogue = np.asarray(cats.sum(axis=0)).ravel()
        interactions = train.item_counts() @ cats
        for j, name in enumerate(names):
            categories[name] = {
                "exposure_share": float(shown[j]),
                "catalogue_share": float(catalogue[j] / max(catalogue.sum(), 1e-12)),
                "interaction_share": float(interactions[j] / max(interactions.sum(), 1e-12)),
            }
    return FairnessReport(model=result.model, k=k, metrics=metrics, intervals=intervals,
                          groups=audits, categories=categories, confidence=result.confidence)


def audit_fairness(model: RankingModel, train: Dataset, test: Dataset,
                   groups: Sequence[UserGroups] = (), k: int = 10, *, seed: int = 0,
                   n_boot: int = 1000, n_perm: int = 1000, head_fraction: float = HEAD_FRACTION,
                   category_column: str = "genres", name: str | None = None) -> FairnessReport:
    """Audit a fitted model (or re-ranked model) on ``test``: see the module docstring."""
    if k < 1:
        raise ConfigError(f"k must be ≥ 1, got {k}")
    result, lists = evaluate_with_lists(model, train, test, k, seed=seed, n_boot=n_boot,
                                        name=name)
    return fairness_report(result, lists, train, groups, head_fraction=head_fraction,
                           category_column=category_column, n_boot=n_boot, n_perm=n_perm,
                           seed=seed)

"""Group audits: per-group means, gaps, the permutation test, and the end-to-end audit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustrec.data import split, synthetic
from trustrec.fairness import (
    UserGroups,
    audit_fairness,
    group_audit,
    permutation_p_value,
    user_groups,
)
from trustrec.models import create_model


def test_permutation_test_separates_real_gaps_from_noise() -> None:
    rng = np.random.default_rng(0)
    codes = np.repeat([0, 1], 100)
    shifted = rng.normal(0, 1, 200) + 1.0 * codes
    same = rng.normal(0, 1, 200)
    assert permutation_p_value(shifted, codes, n_perm=500, seed=0) < 0.01
    assert permutation_p_value(same, codes, n_perm=500, seed=0) > 0.05
    assert np.isnan(permutation_p_value(same, np.zeros(200, dtype=int)))


def test_group_audit_means_and_gaps_by_hand() -> None:
    groups = UserGroups("g", np.array([0, 0, 1, 1, 2, -1]), ("a", "b", "c"))
    values = np.array([0.2, 0.4, 0.6, 0.8, np.nan, 1.0])
    audit = group_audit({"m": values}, np.arange(6), groups, ["m"], n_boot=50, n_perm=50)
    rows = {r["group"]: r for r in audit.rows}
    assert rows["a"]["m"] == pytest.approx(0.3)
    assert rows["b"]["m"] == pytest.approx(0.7)
    assert np.isnan(rows["c"]["m"]) and rows["c"]["users"] == 1
    gap = audit.gaps["m"]
    assert (gap.best, gap.worst) == ("b", "a")
    assert gap.absolute == pytest.approx(0.4)
    assert gap.relative == pytest.approx(0.4 / 0.7)
    assert 0 < gap.p_value <= 1 and 0 < gap.welch_p <= 1
    strata = UserGroups("activity", np.array([0, 0, 0, 1, 1, 1]), ("low", "high"))
    stratified = group_audit({"m": values}, np.arange(6), groups, ["m"], strata=strata,
                             n_boot=10, n_perm=10)
    # low: b 0.6 vs a 0.3; high holds no user of a → 0.3 (the raw gap is 0.4)
    assert stratified.gaps["m"].adjusted == pytest.approx(0.3)
    assert np.isnan(gap.adjusted)
    lower = group_audit({"arp": values}, np.arange(6), groups, ["arp"], n_boot=10, n_perm=10)
    assert (lower.gaps["arp"].best, lower.gaps["arp"].worst) == ("a", "b")  # lower is better
    assert lower.gaps["arp"].absolute == pytest.approx(0.4)


def test_audit_fairness_reports_groups_exposure_and_categories() -> None:
    ds = synthetic.generate(n_users=150, n_items=80, n_interactions=3000, seed=1)
    parts = split.random_holdout(ds, 0.2, seed=0)
    model = create_model("itemknn", {"k": 20}).fit(parts.train)
    groups = [user_groups(parts.train, "gender"), user_groups(parts.train, "activity")]
    report = audit_fairness(model, parts.train, parts.test, groups, k=5, n_boot=50, n_perm=50)
    for key in ("ndcg@5", "recall@5", "aplt", "arp", "coverage", "gini", "calibration_kl"):
        assert np.isfinite(report.metrics[key]), key
    assert set(report.groups) == {"gender", "activity"}
    gender = report.groups["gender"]
    assert {r["group"] for r in gender.rows} == {"F", "M"}
    assert sum(r["users"] for r in gender.rows) == len(np.unique(parts.test.user))
    shares = [c["exposure_share"] for c in report.categories.values()]
    assert sum(shares) == pytest.approx(1.0)
    json.dumps(report.to_dict())  # JSON-ready

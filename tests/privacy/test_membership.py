"""Membership-inference attacks, their metrics, and the audit after unlearning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trustrec.data import synthetic
from trustrec.privacy.audit import (
    CURVE_EPSILONS,
    DP_MODELS,
    audit_membership,
    privacy_audit,
    release_advice,
    unlearning_audit,
)
from trustrec.privacy.membership import (
    attack_metrics,
    fit_logistic,
    held_item_ranks,
    logistic_scores,
)


def test_attack_metrics() -> None:
    assert attack_metrics(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == (1.0, 1.0)
    auc, tpr = attack_metrics(np.ones(50), np.ones(50))
    assert auc == 0.5 and tpr == 0.0
    auc, _ = attack_metrics(np.array([1.0, 3.0]), np.array([2.0, 0.0]))
    assert auc == 0.75


def test_held_item_ranks() -> None:
    import scipy.sparse as sp

    scores = np.array([[0.0, 1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0, 0.0]])
    held = sp.csr_matrix(np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]]))
    ranks = held_item_ranks(scores, held)
    assert ranks[0] == pytest.approx(0.875) and np.isnan(ranks[1])


def test_logistic_regression_separates_separable_data() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(1, 0.5, (100, 3)), rng.normal(-1, 0.5, (100, 3))])
    y = np.concatenate([np.ones(100), np.zeros(100)])
    scores = logistic_scores(fit_logistic(x, y), x)
    assert attack_metrics(scores[:100], scores[100:])[0] > 0.97


@pytest.fixture(scope="module")
def data():
    return synthetic.generate(n_users=240, n_items=120, n_interactions=5000, seed=1)


def test_memorising_model_is_attackable_popularity_is_not(data) -> None:
    ease_threshold, ease_shadow = audit_membership(data, "ease", {"l2": 1.0, "threads": 1})
    pop_threshold, _ = audit_membership(data, "popularity")
    assert ease_threshold.auc > 0.8
    assert pop_threshold.auc < ease_threshold.auc - 0.15
    assert ease_threshold.n_members == ease_threshold.n_nonmembers == 60
    assert 0.0 <= ease_shadow.auc <= 1.0


def test_forgotten_members_look_like_outsiders(data) -> None:
    before, after = unlearning_audit(data, "ease", {"l2": 1.0, "threads": 1})
    assert before.auc > 0.75
    assert after.auc < 0.6


def test_privacy_audit_report_rows(data) -> None:
    report = privacy_audit(data, "itemknn", {"k": 20})
    assert [r["attack"].split(" ")[0] for r in report.rows()] == ["threshold", "shadow"]
    assert report.to_dict()["dp_curve"] == []


def test_dp_curve_puts_the_dp_models_side_by_side_and_advises() -> None:
    data = synthetic.generate(n_users=160, n_items=80, n_interactions=3200, seed=2)
    heard: list[tuple[str, int, int]] = []
    report = privacy_audit(data, "popularity", dp_curve_too=True,
                           on_progress=lambda *step: heard.append(step))
    fits = [(d, t) for w, d, t in heard if w.startswith("DP models")]
    n = len(DP_MODELS) * len(CURVE_EPSILONS)
    assert fits == [(i, n) for i in range(n + 1)]  # long work tells how far it is
    assert {(r["model"], r["epsilon"]) for r in report.dp_curve} == {
        (m, e) for m in DP_MODELS for e in CURVE_EPSILONS}
    for row in report.dp_curve:
        assert row["unit"] == "user (entire history)" and "index.item_ids" in row["releases"]
    assert "dp_ease_topk" in DP_MODELS
    assert [a["epsilon"] for a in report.advice] == [0.5, 1.0, 2.0, 4.0, 8.0]
    for advice in report.advice:
        ndcg = {r["model"]: r["ndcg@10"] for r in report.dp_curve
                if r["epsilon"] == advice["epsilon"]}
        ranked = sorted(ndcg, key=lambda name: -ndcg[name])
        assert (advice["release"], advice["instead_of"]) == (ranked[0], ranked[1])


def test_release_advice_picks_the_better_model_per_epsilon() -> None:
    curve = [{"model": "a", "epsilon": 1.0, "ndcg@10": 0.2},
             {"model": "b", "epsilon": 1.0, "ndcg@10": 0.1},
             {"model": "a", "epsilon": 8.0, "ndcg@10": 0.2},
             {"model": "b", "epsilon": 8.0, "ndcg@10": 0.3},
             {"model": "b", "epsilon": math.inf, "ndcg@10": 0.5}]
    assert [(r["epsilon"], r["release"], r["instead_of"]) for r in release_advice(curve)] == [
        (1.0, "a", "b"), (8.0, "b", "a")]

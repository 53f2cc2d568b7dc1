"""Detectors, the boosted-stump classifier, the leak-free protocol and the measurement."""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.data import synthetic
from trustrec.errors import ConfigError
from trustrec.models import create_model
from trustrec.robustness.attacks import profile_attack
from trustrec.robustness.boosting import BoostedStumps
from trustrec.robustness.detect import (
    Detection,
    auc,
    detection_metrics,
    group_detect,
    text_detect,
    unsupervised_detect,
)
from trustrec.robustness.generative import generative_attack
from trustrec.robustness.leakfree import check_no_leak, leak_free_detection
from trustrec.robustness.measure import audience, target_effect
from trustrec.robustness.specs import AttackSpec


@pytest.fixture(scope="module")
def small():
    return synthetic.generate(n_users=300, n_items=120, density=0.08, seed=2)


def test_an_obvious_attack_raises_the_target_and_is_detected(planted):
    target = np.array([int(np.argmin(planted.item_counts()))])
    attack = profile_attack(planted, target, "average", size=0.2, filler=0.3, seed=0)
    users, eligible = audience(planted, target)
    clean = create_model("itemknn").fit(planted)
    attacked = create_model("itemknn").fit(attack.dataset)
    before = target_effect(clean, users, eligible, target)
    after = target_effect(attacked, users, eligible, target)
    assert after["target_mean_rank"] < before["target_mean_rank"] - 3
    assert after["target_hr@10"] > before["target_hr@10"]
    found = unsupervised_detect(attack.dataset, contamination=attack.n_fake / 72)
    metrics = detection_metrics(attack.is_fake, found)
    assert metrics["auc"] > 0.9 and metrics["recall"] >= 0.5


def test_metrics_and_auc():
    labels = np.array([True, True, False, False, False])
    det = Detection(np.array([0.9, 0.2, 0.8, 0.1, 0.0]),
                    np.array([True, False, True, False, False]), "x")
    m = detection_metrics(labels, det)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["fpr"] == pytest.approx(1 / 3)
    assert auc(labels, det.scores) == pytest.approx(5 / 6)
    assert np.isnan(auc(np.zeros(3, bool), np.arange(3)))


def test_boosted_stumps_learn_a_nonlinear_rule():
    rng = np.random.default_rng(0)
    x = rng.random((400, 3))
    y = (x[:, 0] > 0.7) | (x[:, 1] < 0.2)
    model = BoostedStumps(n_rounds=60).fit(x, y)
    prob = model.predict_proba(x)
    assert ((prob > 0.5) == y).mean() > 0.97
    assert np.array_equal(prob, BoostedStumps(n_rounds=60).fit(x, y).predict_proba(x))


def test_supervised_detector_never_trains_on_test_profiles(small):
    test = AttackSpec("average", 0.05, filler=0.1, seed=0)
    train = [AttackSpec("average", 0.03, filler=0.1, seed=1),
             AttackSpec("random", 0.08, filler=0.1, seed=2)]
    result = leak_free_detection(small, test, train, n_targets=2)
    assert result["n_test_profiles_seen_in_training"] == 0
    assert {s["seed"] for s in result["train"]}.isdisjoint({result["test"]["seed"]})
    assert result["recall"] > 0.8 and result["fpr"] < 0.05
    with pytest.raises(ConfigError, match="leak"):
        check_no_leak([AttackSpec("random", seed=0)], test)


def test_group_detector_finds_accounts_pushing_the_same_items(small):
    targets = np.argsort(small.item_counts())[60:64]
    for attack in (profile_attack(small, targets, "average", size=0.05, filler=0.05, seed=0),
                   generative_attack(small, targets, size=0.05, seed=0, sampler="markov")):
        metrics = detection_metrics(attack.is_fake, group_detect(attack.dataset))
        assert metrics["recall"] == 1.0 and metrics["fpr"] < 0.02
    single = profile_attack(small, targets[:1], "average", size=0.05, filler=0.05, seed=0)
    assert not group_detect(single.dataset).flags.any()  # one item makes no pair


def test_text_detector_flags_a_stuffed_description():
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 0.05, (40, 8)) + np.eye(8)[0]
    vectors[7] = np.eye(8)[3]
    texts = [f"a film about topic {i} and its people" for i in range(40)]
    texts[12] = "a film " + "scary dark horror " * 6
    found = text_detect(vectors, texts)
    assert found.flags[7] and found.flags[12] and found.flags.sum() <= 4


def test_target_ranks_match_the_recommended_lists(planted):
    from trustrec.robustness.measure import target_ranks

    model = create_model("itemknn").fit(planted)
    users, targets = np.arange(10, dtype=np.int32), np.array([0, 5, 33])
    lists = model.recommend(users, k=planted.n_items).items
    ranks = target_ranks(model, users, targets)
    for r, u in enumerate(users):
        for c, t in enumerate(targets):
            pos = np.flatnonzero(lists[r] == t)
            assert ranks[r, c] == (pos[0] if len(pos) else ranks[r, c])
            assert len(pos) or model.seen_[u, t] > 0

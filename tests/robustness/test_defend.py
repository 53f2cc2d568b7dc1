"""Defences: the simulated-attack detector, dropping and down-weighting flagged users."""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.data import synthetic
from trustrec.errors import ConfigError
from trustrec.robustness.attacks import profile_attack
from trustrec.robustness.audit import audit_robustness
from trustrec.robustness.defend import downweight, drop_flagged, simulated_detector
from trustrec.robustness.detect import detection_metrics


@pytest.fixture(scope="module")
def small():
    return synthetic.generate(n_users=300, n_items=120, density=0.08, seed=4)


def test_detector_trained_on_simulated_attacks_finds_a_real_one(small):
    targets = np.argsort(small.item_counts())[40:43]
    attack = profile_attack(small, targets, "bandwagon", size=0.03, filler=0.1, seed=7)
    detector = simulated_detector(attack.dataset, kinds=("random", "average", "bandwagon"),
                                  sizes=(0.03,))
    metrics = detection_metrics(attack.is_fake, detector.detect(attack.dataset))
    assert metrics["auc"] > 0.95 and metrics["fpr"] < 0.03


def test_drop_and_downweight_touch_only_flagged_users(small):
    flags = np.zeros(small.n_users, bool)
    flags[:5] = True
    dropped = drop_flagged(small, flags)
    assert not np.isin(dropped.user, np.arange(5)).any()
    assert len(dropped) == len(small) - int(small.user_counts()[:5].sum())
    suspicion = np.zeros(small.n_users)
    suspicion[:5] = 1.0
    suspicion[5] = 0.5
    weighted = downweight(small, suspicion)
    assert len(weighted) == len(dropped)
    sixth = small.user == 5
    assert np.allclose(weighted.value[weighted.user == 5], small.value[sixth] * 0.5)
    with pytest.raises(ConfigError, match="suspicion"):
        downweight(small, np.full(small.n_users, 2.0))


def test_audit_with_downweight_defence_and_outlier_detector(small):
    report = audit_robustness(small, "itemknn", "average", 0.05, n_targets=2, seeds=1,
                              filler=0.1, detector="outlier", defence="downweight")
    assert report.settings["defence"] == "downweight"
    assert report.summary["detect.auc"]["mean"] > 0.8
    with pytest.raises(ConfigError, match="detector"):
        audit_robustness(small, "itemknn", detector="oracle")

"""Leak-free evaluation of the supervised detector.

The detector is trained on attacks generated with other seeds, sizes (or families) and
other target items than the attack it is tested on, and on one half of the genuine users;
it is tested on the other half and on the test attack's fake users. The result records
what it was trained on and checks that no test-time fake profile occurs in training.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.robustness.detect import (
    SupervisedDetector,
    detection_metrics,
    detector_features,
)
from trustrec.robustness.inject import Attack
from trustrec.robustness.specs import AttackSpec, make_attack, pick_targets


def profile_hashes(attack: Attack) -> set[str]:
    """SHA-256 of each fake profile's sorted (item, value) pairs."""
    ds = attack.dataset
    fake = ds.user >= attack.n_genuine
    user, item, value = ds.user[fake], ds.item[fake], ds.value[fake]
    order = np.lexsort((item, user))
    user, item, value = user[order], item[order], value[order]
    bounds = np.flatnonzero(np.diff(user)) + 1
    return {hashlib.sha256(np.concatenate([i.astype(np.float64), v]).tobytes()).hexdigest()
            for i, v in zip(np.split(item, bounds), np.split(value, bounds), strict=True)}


def check_no_leak(train_specs: list[AttackSpec], test_spec: AttackSpec) -> None:
    """Refuse training attacks that share the test attack's seed."""
    clash = [s for s in train_specs if s.seed == test_spec.seed]
    if clash:
        raise ConfigError(f"leak: training attack {clash[0]} uses the test seed "
                          f"{test_spec.seed}; train on other seeds")


def leak_free_detection(dataset: Dataset, test_spec: AttackSpec, train_specs: list[AttackSpec],
                        n_targets: int = 5, seed: int = 0) -> dict[str, Any]:
    """Train :class:`SupervisedDetector` on ``train_specs`` and test it on ``test_spec``.

    Test targets are drawn with ``seed``, training targets with other seeds and disjoint
    from them; genuine users are split in halves (train / test). Returns the test metrics
    (precision, recall, F1, FPR on the genuine test half, AUC), the specs, and
    ``n_test_profiles_seen_in_training`` (0 unless a profile leaked)."""
    check_no_leak(train_specs, test_spec)
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(dataset.user_counts() > 0)
    train_half = np.zeros(dataset.n_users, bool)
    train_half[rng.permutation(active)[:len(active) // 2]] = True
    test_targets = pick_targets(dataset, n_targets, seed)
    examples, seen = [], set()
    for j, spec in enumerate(train_specs):
        targets = pick_targets(dataset, n_targets, seed + 1 + j, exclude=test_targets)
        attack = make_attack(dataset, targets, spec)
        rows = np.concatenate([train_half, np.ones(attack.n_fake, bool)])
        examples.append((detector_features(attack.dataset, seed)[rows], attack.is_fake[rows]))
        seen |= profile_hashes(attack)
    detector = SupervisedDetector(seed=seed).fit(examples)
    attack = make_attack(dataset, test_targets, test_spec)
    among = np.concatenate([~train_half & (dataset.user_counts() > 0),
                            np.ones(attack.n_fake, bool)])
    metrics = detection_metrics(attack.is_fake, detector.detect(attack.dataset), among)
    return {**metrics, "test": test_spec.to_dict(),
            "train": [s.to_dict() for s in train_specs],
            "n_test_profiles_seen_in_training": len(profile_hashes(attack) & seen)}

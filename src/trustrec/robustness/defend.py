"""Defences: drop or down-weight suspicious users before training, with a detector the
platform trains on attacks it simulates against its own data.

A platform cannot label real fake accounts, but it can inject attacks of its own into its
data (other targets, seeds, sizes and families than any real attacker's) and learn what
distinguishes them: :func:`simulated_detector`. The data it simulates on may already hold
real fakes, which look like the simulated ones; so only *trusted* users — those the
unsupervised outlier score places below ``trusted_quantile`` — serve as genuine examples.
"""

from __future__ import annotations

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.robustness.detect import (
    SupervisedDetector,
    detector_features,
    unsupervised_detect,
)
from trustrec.robustness.specs import PROFILE_KINDS, AttackSpec, make_attack, pick_targets

DEFENCES = ("drop", "downweight")


def simulated_detector(dataset: Dataset, kinds: tuple[str, ...] = PROFILE_KINDS,
                       sizes: tuple[float, ...] = (0.01, 0.05), n_targets: int = 5,
                       seed: int = 10_000, threshold: float = 0.5,
                       trusted_quantile: float = 0.9) -> SupervisedDetector:
    """A :class:`SupervisedDetector` trained on attacks of ``kinds`` × ``sizes`` simulated
    on ``dataset`` itself (targets and seeds drawn from ``seed`` on; generative attacks use
    the Markov sampler), with the trusted users of ``dataset`` as genuine examples."""
    score = unsupervised_detect(dataset).scores
    active = dataset.user_counts() > 0
    trusted = active & (score <= np.quantile(score[active], trusted_quantile))
    examples = []
    for j, (kind, size) in enumerate((k, s) for k in kinds for s in sizes):
        spec = AttackSpec(kind, size, sampler="markov", seed=seed + j)
        attack = make_attack(dataset, pick_targets(dataset, n_targets, seed + j), spec)
        rows = np.concatenate([trusted, np.ones(attack.n_fake, bool)])
        examples.append((detector_features(attack.dataset, seed)[rows], attack.is_fake[rows]))
    return SupervisedDetector(threshold=threshold, seed=seed).fit(examples)


def drop_flagged(dataset: Dataset, flags: np.ndarray) -> Dataset:
    """``dataset`` without the interactions of flagged users (indices unchanged)."""
    return dataset.filter(~np.asarray(flags, bool)[dataset.user], name=f"{dataset.name}+drop")


def downweight(dataset: Dataset, suspicion: np.ndarray) -> Dataset:
    """Robust training for confidence-weighted models (e.g. ``als`` with ``implicit=false``,
    ``itemknn``): every interaction's value is multiplied by ``1 − suspicion`` of its user
    (suspicion in [0, 1], e.g. a detector's fake probability); zero-weight rows go."""
    s = np.asarray(suspicion, np.float64)
    if s.shape != (dataset.n_users,) or s.min() < 0 or s.max() > 1:
        raise ConfigError(f"downweight: suspicion must be {dataset.n_users} values in [0, 1]")
    weight = 1.0 - s[dataset.user]
    keep = weight > 0
    ts = None if dataset.timestamp is None else dataset.timestamp[keep]
    return dataset.with_interactions(dataset.user[keep], dataset.item[keep],
                                     (dataset.value * weight)[keep], ts,
                                     name=f"{dataset.name}+downweight")

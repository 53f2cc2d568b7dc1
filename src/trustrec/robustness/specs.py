"""Attack specifications and target choice: one place that turns a kind name and its
options into an :class:`Attack`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.robustness.attacks import CLASSIC_KINDS, profile_attack
from trustrec.robustness.generative import generative_attack
from trustrec.robustness.inject import Attack

PROFILE_KINDS = (*CLASSIC_KINDS, "generative")


@dataclass(frozen=True)
class AttackSpec:
    """A profile attack: ``kind`` (one of :data:`PROFILE_KINDS`), ``size`` (share of users),
    ``filler`` (share of items; classic kinds), ``intent``, ``time_pattern`` (classic
    kinds), ``sampler`` (generative), ``seed`` and ``max_length`` (generative: the longest
    profile; keep it small for the LLM agent, which makes one model call per item)."""

    kind: str = "average"
    size: float = 0.03
    filler: float = 0.05
    intent: str = "push"
    time_pattern: str = "spread"
    sampler: str = "auto"
    seed: int = 0
    max_length: int = 300

    def __post_init__(self) -> None:
        if self.kind not in PROFILE_KINDS:
            raise ConfigError(f"attack kind must be one of {', '.join(PROFILE_KINDS)}; "
                              f"got {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields."""
        return asdict(self)


def make_attack(dataset: Dataset, targets: np.ndarray, spec: AttackSpec,
                model: object | None = None) -> Attack:
    """Run the attack ``spec`` describes against ``targets`` of ``dataset``; ``model``: a
    fitted next-item sampler for the generative kind (instead of ``spec.sampler``'s)."""
    if spec.kind == "generative":
        return generative_attack(dataset, targets, spec.size, spec.intent, spec.seed,
                                 sampler=spec.sampler, model=model,
                                 max_length=spec.max_length)
    return profile_attack(dataset, targets, spec.kind, spec.size, spec.filler, spec.intent,
                          spec.seed, time_pattern=spec.time_pattern)


def pick_targets(dataset: Dataset, n: int = 5, seed: int = 0,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` unpopular but known items: drawn from the items whose interaction count lies
    between the 25th and 50th percentile of the items with interactions (at least 2)."""
    counts = dataset.item_counts()
    known = counts[counts > 0]
    lo, hi = max(2.0, np.quantile(known, 0.25)), max(2.0, np.quantile(known, 0.5))
    pool = np.flatnonzero((counts >= lo) & (counts <= hi))
    if exclude is not None:
        pool = np.setdiff1d(pool, exclude)
    if len(pool) < n:
        raise ConfigError(f"pick_targets: only {len(pool)} unpopular items with ≥ 2 "
                          f"interactions, {n} asked")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=n, replace=False)).astype(np.int32)

"""What every profile attack shares: attack sizes, the rating scale, item statistics,
per-row sampling without replacement and fake timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError

TIME_PATTERNS = ("spread", "burst")
DAY = 86_400


def check_share(name: str, value: float) -> None:
    """``value`` must be a share in (0, 1)."""
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be a share strictly between 0 and 1, got {value!r}")


def check_targets(dataset: Dataset, targets: np.ndarray) -> np.ndarray:
    """Target item indices as a non-empty, distinct int32 array inside the item index."""
    arr = np.unique(np.atleast_1d(np.asarray(targets)))
    if not arr.size or arr.dtype.kind not in "iu" or arr.min() < 0 or \
            arr.max() >= dataset.n_items:
        raise ConfigError(f"targets: expected item indices in [0, {dataset.n_items}), "
                          f"got {np.asarray(targets)!r}")
    return arr.astype(np.int32)


def n_fake_users(dataset: Dataset, size: float) -> int:
    """Number of fake users for an attack of ``size`` (share of the genuine users, ≥ 1)."""
    check_share("size", size)
    return max(1, round(size * int((dataset.user_counts() > 0).sum())))


@dataclass(frozen=True)
class Stats:
    """Rating scale and item statistics of the genuine data an attacker can observe."""

    dataset: Dataset

    @cached_property
    def scale(self) -> tuple[float, float]:
        """(lowest, highest) rating."""
        if self.dataset.rating_scale is not None:
            return self.dataset.rating_scale
        return float(self.dataset.value.min()), float(self.dataset.value.max())

    @cached_property
    def step(self) -> float:
        """Rating granularity: 0.5 when half stars occur, else 1."""
        return 0.5 if np.any(self.dataset.value % 1 != 0) else 1.0

    @cached_property
    def counts(self) -> np.ndarray:
        """Interactions per item."""
        return self.dataset.item_counts()

    @cached_property
    def item_mean(self) -> np.ndarray:
        """Mean rating per item (the global mean for items without ratings)."""
        ds = self.dataset
        total = np.bincount(ds.item, weights=ds.value, minlength=ds.n_items)
        return np.where(self.counts > 0, total / np.maximum(self.counts, 1), ds.value.mean())

    @cached_property
    def item_std(self) -> np.ndarray:
        """Rating deviation per item (the global one where fewer than 2 ratings)."""
        ds = self.dataset
        sq = np.bincount(ds.item, weights=ds.value.astype(np.float64) ** 2, minlength=ds.n_items)
        var = sq / np.maximum(self.counts, 1) - self.item_mean ** 2
        return np.where(self.counts > 1, np.sqrt(np.clip(var, 0, None)), ds.value.std())

    def ratings(self, mean: np.ndarray | float, std: np.ndarray | float,
                rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Ratings drawn from N(mean, std), rounded to the scale's step and clipped."""
        if not self.dataset.explicit:
            return np.ones(shape, dtype=np.float32)
        raw = rng.normal(mean, std, size=shape)
        lo, hi = self.scale
        return np.clip(np.round(raw / self.step) * self.step, lo, hi).astype(np.float32)

    def extreme(self, intent: str) -> float:
        """The rating a push (highest) or nuke (lowest) gives."""
        if not self.dataset.explicit:
            if intent == "nuke":
                raise ConfigError("nuke attacks need explicit ratings; this dataset is implicit")
            return 1.0
        return self.scale[1] if intent == "push" else self.scale[0]


def sample_rows(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct columns per row, drawn with probability ∝ ``weights`` (rows × items)
    without replacement by the Gumbel-top-k trick; a zero weight is drawn only when a row
    has fewer than ``n`` positive weights."""
    with np.errstate(divide="ignore"):
        keys = np.log(weights) - np.log(-np.log(rng.random(weights.shape)))
    n = min(n, weights.shape[1])
    top = np.argpartition(-keys, n - 1, axis=1)[:, :n] if n < weights.shape[1] \
        else np.argsort(-keys, axis=1)
    return top.astype(np.int32)


def fake_timestamps(dataset: Dataset, lengths: np.ndarray, pattern: str,
                    rng: np.random.Generator) -> np.ndarray | None:
    """Sorted timestamps per profile (concatenated): ``spread`` over the data's time range,
    or a ``burst`` within its last day. None when the dataset has no timestamps."""
    if pattern not in TIME_PATTERNS:
        raise ConfigError(f"time pattern must be one of {', '.join(TIME_PATTERNS)}; "
                          f"got {pattern!r}")
    if dataset.timestamp is None:
        return None
    lo, hi = int(dataset.timestamp.min()), int(dataset.timestamp.max())
    if pattern == "burst":
        lo = max(lo, hi - DAY)
    stamps = rng.integers(lo, hi + 1, size=int(lengths.sum()))
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return stamps[np.lexsort((stamps, owner))]

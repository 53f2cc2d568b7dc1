"""Uncertainty of a mean over users: standard error, normal and percentile-bootstrap intervals."""

from __future__ import annotations

from typing import Literal

import numpy as np

from trustrec.errors import ConfigError, DataError

#: Upper bound on the resampled indices drawn at once (n_boot chunks × n values).
_RESAMPLE_BLOCK = 1 << 22


def _values(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError(f"values: expected a 1-D array (one value per user), got {arr.shape}")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")


def standard_error(values: np.ndarray) -> float:
    """Standard error of the mean, ``std(values, ddof=1) / sqrt(n)``; NaN for fewer than 2."""
    arr = _values(values)
    if arr.size < 2:
        return float("nan")
    return float(np.std(arr, ddof=1) / np.sqrt(arr.size))


def bootstrap_ci(
    values: np.ndarray,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    *,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one value per user).

    Users are resampled with replacement ``n_boot`` times; the interval holds the central
    ``confidence`` share of the resampled means. With ``weights`` (positive, one per user)
    the statistic is the weighted mean ``Σ w v / Σ w`` — e.g. per-user mean squared errors
    weighted by rating counts give a user-clustered interval of the pooled MSE.
    Same ``seed`` and length, same resamples. ``(nan, nan)`` for no values.
    """
    arr = _values(values)
    _check_confidence(confidence)
    if n_boot < 1:
        raise ConfigError(f"n_boot must be ≥ 1, got {n_boot}")
    w = np.ones_like(arr) if weights is None else _values(weights)
    if w.shape != arr.shape or (w.size and w.min() <= 0):
        raise DataError(f"weights: expected {arr.size} positive values, got shape {w.shape}")
    n = arr.size
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    weighted = arr * w
    means = np.empty(n_boot)
    step = max(1, _RESAMPLE_BLOCK // n)
    for start in range(0, n_boot, step):
        idx = rng.integers(0, n, size=(min(step, n_boot - start), n))
        means[start:start + len(idx)] = weighted[idx].sum(axis=1) / w[idx].sum(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def mean_ci(
    values: np.ndarray,
    method: Literal["bootstrap", "normal"] = "bootstrap",
    confidence: float = 0.95,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Interval of the mean: percentile bootstrap, or ``mean ± z·SE`` (``method="normal"``)."""
    if method == "bootstrap":
        return bootstrap_ci(values, n_boot=n_boot, confidence=confidence, seed=seed)
    if method != "normal":
        raise ConfigError(f"method must be 'bootstrap' or 'normal', got {method!r}")
    _check_confidence(confidence)
    arr = _values(values)
    if arr.size == 0:
        return float("nan"), float("nan")
    from scipy.stats import norm  # scipy.stats costs seconds to import: only when used

    half = float(norm.ppf(0.5 + confidence / 2.0)) * standard_error(arr)
    mean = float(arr.mean())
    return mean - half, mean + half

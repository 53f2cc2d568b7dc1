"""Standard errors and confidence intervals of means over users."""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.errors import ConfigError, DataError
from trustrec.evaluation import bootstrap_ci, mean_ci, standard_error


def test_standard_error_by_hand() -> None:
    # std([1, 2, 3, 4], ddof=1) = sqrt(5/3) = 1.2910; / sqrt(4) = 0.6455
    assert standard_error(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(np.sqrt(5 / 3) / 2)
    assert np.isnan(standard_error(np.array([1.0])))


def test_normal_interval_by_hand() -> None:
    lo, hi = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]), method="normal")
    half = 1.959964 * np.sqrt(5 / 3) / 2  # 1.2652
    assert (lo, hi) == pytest.approx((2.5 - half, 2.5 + half), abs=1e-5)


def test_bootstrap_contains_mean_and_is_reproducible_by_seed() -> None:
    values = np.random.default_rng(1).random(200)
    lo, hi = bootstrap_ci(values, seed=3)
    assert lo < values.mean() < hi
    assert bootstrap_ci(values, seed=3) == (lo, hi)
    assert bootstrap_ci(values, seed=4) != (lo, hi)
    assert mean_ci(values, seed=3) == (lo, hi)
    lo90, hi90 = bootstrap_ci(values, confidence=0.90, seed=3)
    assert lo < lo90 < hi90 < hi


def test_bootstrap_agrees_with_normal_interval_on_a_large_sample() -> None:
    values = np.random.default_rng(2).normal(size=2000)
    boot = np.array(bootstrap_ci(values, n_boot=2000))
    normal = np.array(mean_ci(values, method="normal"))
    np.testing.assert_allclose(boot, normal, atol=0.01)  # interval width ≈ 0.088


def test_weighted_bootstrap_is_an_interval_of_the_weighted_mean() -> None:
    values = np.random.default_rng(5).random(100)
    weights = np.arange(1, 101, dtype=float)
    lo, hi = bootstrap_ci(values, weights=weights)
    assert lo < np.average(values, weights=weights) < hi
    assert bootstrap_ci(values, weights=np.full(100, 7.0)) == pytest.approx(bootstrap_ci(values))


def test_degenerate_and_invalid_inputs() -> None:
    assert bootstrap_ci(np.full(5, 0.25)) == pytest.approx((0.25, 0.25))
    assert all(np.isnan(bootstrap_ci(np.array([]))))
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_ci(np.ones(3), confidence=1.5)
    with pytest.raises(ConfigError, match="method"):
        mean_ci(np.ones(3), method="student")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="positive"):
        bootstrap_ci(np.ones(3), weights=np.array([1.0, 0.0, 1.0]))
    with pytest.raises(DataError, match="1-D"):
        bootstrap_ci(np.ones((2, 2)))

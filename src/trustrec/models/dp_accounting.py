"""Privacy accounting for the Gaussian mechanism (Balle & Wang 2018, "analytic Gaussian").

Adding ``N(0, σ²)`` to every coordinate of a function with L2 sensitivity Δ is
(ε, δ)-differentially private exactly when

    δ ≥ Φ(Δ/(2σ) − εσ/Δ) − e^ε · Φ(−Δ/(2σ) − εσ/Δ)            (Balle & Wang, Thm. 8)

:func:`gaussian_sigma` finds the smallest such σ by bisection; unlike the classical bound
``σ = Δ·√(2 ln(1.25/δ))/ε`` it holds for every ε > 0 and is tighter.

**Splitting one budget between several Gaussian releases.** The analytic Gaussian bound
is exactly the (ε, δ) profile of μ-Gaussian differential privacy with ``μ = Δ/σ`` (Dong,
Roth & Su 2022, "Gaussian differential privacy", Cor. 2.13), and GDP composes exactly,
adaptively too: releases that are μ₁-, …, μ_k-GDP together are ``√(Σ μ_i²)``-GDP (ibid.,
Cor. 3.3). :func:`gaussian_mu` gives the μ that (ε, δ) allows, :func:`split_sigmas` the
noise of each release when release i gets the share ``s_i`` of μ² (``Σ s_i = 1``), and
:func:`composed_delta` the δ that a set of releases spends at ε (the check of a split).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.special import log_ndtr

from trustrec.errors import ConfigError


def gaussian_delta(sigma: float, epsilon: float, sensitivity: float) -> float:
    """The smallest δ for which noise ``sigma`` makes a ``sensitivity`` query (ε, δ)-DP."""
    if sigma <= 0:
        return 1.0
    a = sensitivity / (2.0 * sigma)
    b = epsilon * sigma / sensitivity
    # Φ(a − b) − e^ε Φ(−a − b), the second term in log space to avoid overflow
    return max(0.0, math.exp(log_ndtr(a - b)) - math.exp(epsilon + log_ndtr(-a - b)))


def gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """The smallest noise σ for which the Gaussian mechanism is (ε, δ)-DP (0 for ε = ∞)."""
    if not (epsilon > 0 and 0 < delta < 1 and sensitivity > 0):
        raise ConfigError(f"gaussian_sigma: need ε > 0, 0 < δ < 1 and sensitivity > 0; got "
                          f"ε={epsilon}, δ={delta}, Δ={sensitivity}")
    if math.isinf(epsilon):
        return 0.0
    low, high = 1e-6 * sensitivity, sensitivity
    while gaussian_delta(high, epsilon, sensitivity) > delta:
        high *= 2.0
    for _ in range(200):
        mid = math.sqrt(low * high)
        if gaussian_delta(mid, epsilon, sensitivity) > delta:
            low = mid
        else:
            high = mid
        if high / low < 1 + 1e-12:
            break
    return high


def gaussian_mu(epsilon: float, delta: float) -> float:
    """The GDP parameter μ = Δ/σ of the Gaussian mechanism that is exactly (ε, δ)-DP."""
    if math.isinf(epsilon):
        return math.inf
    return 1.0 / gaussian_sigma(epsilon, delta, 1.0)


def split_sigmas(epsilon: float, delta: float, sensitivities: Sequence[float],
                 shares: Sequence[float]) -> list[float]:
    """Noise σ_i of release i (sensitivity Δ_i) when it gets the share ``shares[i]`` of μ²:
    ``σ_i = Δ_i / (μ √s_i)``; together the releases are (ε, δ)-DP (0 for ε = ∞)."""
    if len(sensitivities) != len(shares) or not math.isclose(sum(shares), 1.0) or \
            min(shares) <= 0:
        raise ConfigError(f"split_sigmas: need one share in (0, 1] per release, summing to "
                          f"1; got {list(shares)} for {len(sensitivities)} releases")
    mu = gaussian_mu(epsilon, delta)
    return [0.0 if math.isinf(mu) else d / (mu * math.sqrt(s))
            for d, s in zip(sensitivities, shares, strict=True)]


def composed_delta(sigmas: Sequence[float], sensitivities: Sequence[float],
                   epsilon: float) -> float:
    """The δ at ``epsilon`` of Gaussian releases with noise ``sigmas`` and L2
    ``sensitivities``, composed (μ = √(Σ (Δ_i/σ_i)²)-GDP)."""
    if min(sigmas) <= 0:
        return 1.0
    mu = math.sqrt(sum((d / s) ** 2 for d, s in zip(sensitivities, sigmas, strict=True)))
    return gaussian_delta(1.0 / mu, epsilon, 1.0)

"""Privacy accounting for the Gaussian mechanism (Balle & Wang 2018, "analytic Gaussian").

Adding ``N(0, σ²)`` to every coordinate of a function with L2 sensitivity Δ is
(ε, δ)-differentially private exactly when

    δ ≥ Φ(Δ/(2σ) − εσ/Δ) − e^ε · Φ(−Δ/(2σ) − εσ/Δ)            (Balle & Wang, Thm. 8)

:func:`gaussian_sigma` finds the smallest such σ by bisection; unlike the classical bound
``σ = Δ·√(2 ln(1.25/δ))/ε`` it holds for every ε > 0 and is tighter.
"""

from __future__ import annotations

import math

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

"""Numba kernels of ``mf``'s Gibbs sampler.

Rows of ``X`` and ``Y`` hold ``[bias, factor_1 … factor_k]`` of one user or item. The model
of a rating is ``r ≈ μ + x_bias + y_bias + x_factors · y_factors``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=False, nogil=True, fastmath=True)
def _design_products(Y: np.ndarray) -> np.ndarray:
    """Lower triangle of ``y yᵀ``, packed row-wise, for each design row ``y = [1, Y[j, 1:]]``."""
    m, d = Y.shape
    out = np.empty((m, d * (d + 1) // 2))
    for j in range(m):
        p = 0
        for a in range(d):
            ya = 1.0 if a == 0 else Y[j, a]
            for c in range(a + 1):
                out[j, p] = ya * (1.0 if c == 0 else Y[j, c])
                p += 1
    return out


@njit(cache=False, nogil=True, fastmath=True, error_model="numpy")
def _sample_row(e: int, indptr: np.ndarray, other: np.ndarray, values: np.ndarray,
                X: np.ndarray, Y: np.ndarray, products: np.ndarray, mu: float, alpha: float,
                prior_mean: np.ndarray, prior_prec: np.ndarray, noise: np.ndarray,
                packed: np.ndarray, rhs: np.ndarray, low: np.ndarray) -> None:
    """Draw row ``e`` of ``X`` from its Gaussian conditional given ``Y`` (in place).

    ``packed`` (d(d+1)/2), ``rhs`` (d) and ``low`` (d × d) are scratch space.
    """
    d = X.shape[1]
    packed[:] = 0.0
    rhs[:] = 0.0
    for t in range(indptr[e], indptr[e + 1]):
        j = other[t]
        packed += products[j]
        target = values[t] - mu - Y[j, 0]
        rhs[0] += target
        for a in range(1, d):
            rhs[a] += target * Y[j, a]
    # precision α Σ y yᵀ + diag(prior); Cholesky L Lᵀ; draw L⁻ᵀ (L⁻¹ rhs + z)
    p = 0
    for a in range(d):
        rhs[a] = alpha * rhs[a] + prior_prec[a] * prior_mean[a]
        for c in range(a + 1):
            s = alpha * packed[p] + (prior_prec[a] if c == a else 0.0)
            p += 1
            for b in range(c):
                s -= low[a, b] * low[c, b]
            low[a, c] = np.sqrt(s) if c == a else s / low[c, c]
    for a in range(d):
        s = rhs[a]
        for c in range(a):
            s -= low[a, c] * rhs[c]
        rhs[a] = s / low[a, a]
    for a in range(d - 1, -1, -1):
        s = rhs[a] + noise[e, a]
        for c in range(a + 1, d):
            s -= low[c, a] * X[e, c]
        X[e, a] = s / low[a, a]


@njit(cache=False, nogil=True)
def sample_rows(indptr: np.ndarray, other: np.ndarray, values: np.ndarray, X: np.ndarray,
                Y: np.ndarray, mu: float, alpha: float, prior_mean: np.ndarray,
                prior_prec: np.ndarray, noise: np.ndarray) -> None:
    """Gibbs half-sweep: redraw every row of ``X`` given ``Y``.

    Row ``e``'s ratings are ``values[indptr[e]:indptr[e+1]]`` against rows ``other[…]`` of
    ``Y``; ``alpha`` is the rating noise precision, ``prior_mean``/``prior_prec`` the
    per-column Gaussian prior and ``noise`` (rows × columns) the standard normal draws.
    """
    d = X.shape[1]
    products = _design_products(Y)
    packed = np.empty(products.shape[1])
    rhs = np.empty(d)
    low = np.empty((d, d))
    for e in range(X.shape[0]):
        _sample_row(e, indptr, other, values, X, Y, products, mu, alpha, prior_mean,
                    prior_prec, noise, packed, rhs, low)


@njit(cache=False, nogil=True, fastmath=True)
def squared_error(users: np.ndarray, items: np.ndarray, values: np.ndarray, mu: float,
                  X: np.ndarray, Y: np.ndarray) -> float:
    """Sum of squared training residuals of the model ``(μ, X, Y)``."""
    d = X.shape[1]
    total = 0.0
    for t in range(values.shape[0]):
        u = users[t]
        i = items[t]
        pred = mu + X[u, 0] + Y[i, 0]
        for f in range(1, d):
            pred += X[u, f] * Y[i, f]
        total += (values[t] - pred) ** 2
    return total

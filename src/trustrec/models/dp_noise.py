"""Privacy noise from the operating system's CSPRNG, never from a seed.

A differentially private release is only private if nobody can replay its noise: with a
seeded generator an attacker who knows every record but one re-runs the fit for "target in"
and "target out" and keeps the one that matches the release exactly. Every noise sample
and every secret sampling decision of trustrec's DP mechanisms therefore comes from
``os.urandom`` (the kernel's cryptographically secure generator, ChaCha20 on Linux).

Gaussian samples are the inverse normal CDF (``scipy.special.ndtri``) of 53-bit uniforms,
and each released sample is the sum of four such draws halved, the defence Opacus'
``secure_mode`` uses against floating-point attacks on Gaussian noise (Holohan & Braghin
2021, arXiv:2107.10138, §5.1): one draw's value set is sparse enough to locate the exact
noiseless value, the sum's is not.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.special import ndtri

#: Values drawn per call to ``os.urandom`` (bounds the temporary memory).
_CHUNK = 1 << 20


def secure_uniform(n: int) -> np.ndarray:
    """``n`` float64 uniforms in the open interval (0, 1) from ``os.urandom``."""
    words = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
    return ((words >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def secure_normal(n: int, sigma: float) -> np.ndarray:
    """``n`` i.i.d. ``N(0, σ²)`` float64 samples from ``os.urandom`` (see the module)."""
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        size = min(_CHUNK, n - start)
        draws = ndtri(secure_uniform(4 * size)).reshape(4, size)
        out[start:start + size] = draws.sum(axis=0) * (0.5 * sigma)
    return out


def secure_bernoulli(n: int, p: float) -> np.ndarray:
    """``n`` independent secret coin flips with probability ``p`` (Poisson sampling)."""
    return secure_uniform(n) < p

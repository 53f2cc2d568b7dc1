"""``dp_ease``: EASE with user-level differential privacy on its sufficient statistic.

EASE learns only from the Gram matrix ``G = XᵀX``. The mechanism:

1. **Clipping**: each user keeps at most ``max_items_per_user`` interactions (a uniform
   random sample, binary values). Adding or removing one user then changes G by ``x xᵀ``
   whose upper triangle (diagonal included) has L2 norm ``√(c(c+1)/2) ≤ √(m(m+1)/2) = Δ``
   for ``c ≤ m`` items.
2. **Noise**: i.i.d. ``N(0, σ²)`` on the upper triangle of G (mirrored onto the lower one),
   with σ from the analytic Gaussian mechanism for (``epsilon``, ``delta``) and sensitivity Δ
   (:func:`trustrec.models.dp_accounting.gaussian_sigma`). This release is (ε, δ)-DP with
   respect to adding or removing one user's entire history.
3. **Post-processing** (free under DP): projection of the noisy G onto the positive
   semi-definite cone, a ridge ``l2 + noise_ridge · 2σ√n`` (2σ√n is the spectral norm of
   the noise; item count n is public) and the EASE closed form.

The guarantee covers the weights B (``weights_``), which is what is shared or published;
the saved artifact also stores each user's own training items to mask them when serving
that user, as every trustrec model does. ``epsilon = inf`` gives clipped, noiseless EASE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from trustrec.errors import ModelError
from trustrec.models.config import require
from trustrec.models.dp_accounting import gaussian_sigma
from trustrec.models.ease import Ease, EaseConfig, gram, spd_inverse_inplace
from trustrec.models.registry import register


@dataclass(frozen=True)
class DpEaseConfig(EaseConfig):
    """EASE's parameters plus ``epsilon`` (> 0, ``inf``: no noise) and ``delta`` (in (0, 1))
    of the user-level guarantee, ``max_items_per_user`` (the clipping bound m),
    ``noise_ridge`` (≥ 0, extra ridge per unit of noise spectral norm) and ``seed``."""

    l2: float = 300.0
    dropout: float = 0.0
    epsilon: float = 8.0
    delta: float = 1e-5
    max_items_per_user: int = 50
    noise_ridge: float = 0.5
    seed: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        super().check()
        require(self.implicit, "dp_ease", "implicit", "true (the mechanism clips binary "
                "rows)", self.implicit)
        require(self.epsilon > 0, "dp_ease", "epsilon", "> 0 (inf: no noise)", self.epsilon)
        require(0 < self.delta < 1, "dp_ease", "delta", "in (0, 1)", self.delta)
        require(self.max_items_per_user >= 1, "dp_ease", "max_items_per_user", "≥ 1",
                self.max_items_per_user)
        require(math.isfinite(self.noise_ridge) and self.noise_ridge >= 0, "dp_ease",
                "noise_ridge", "a finite number ≥ 0", self.noise_ridge)
        require(self.seed >= 0, "dp_ease", "seed", "≥ 0", self.seed)


def clip_rows(x: sp.csr_matrix, max_items: int, rng: np.random.Generator) -> sp.csr_matrix:
    """Binary ``x`` with at most ``max_items`` uniformly sampled entries left in each row."""
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    order = np.lexsort((rng.random(x.nnz), rows))  # random order within each row
    rank = np.empty(x.nnz, dtype=np.int64)
    rank[order] = np.arange(x.nnz) - np.repeat(x.indptr[:-1], np.diff(x.indptr))
    keep = rank < max_items
    out = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], x.indices[keep])),
                        shape=x.shape)
    out.sort_indices()
    return out


def sensitivity(max_items: int) -> float:
    """L2 sensitivity of the Gram matrix's upper triangle to one user with ≤ m items."""
    return math.sqrt(max_items * (max_items + 1) / 2.0)


def symmetric_noise(n: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """An n × n symmetric matrix with i.i.d. ``N(0, σ²)`` entries on and above the diagonal."""
    z = np.triu(rng.normal(0.0, sigma, size=(n, n)))
    return z + np.triu(z, 1).T


def psd_projection(a: np.ndarray) -> np.ndarray:
    """The nearest (Frobenius) positive semi-definite matrix to the symmetric ``a``."""
    w, v = np.linalg.eigh(a)
    return (v * np.maximum(w, 0.0)) @ v.T


@register
class DpEase(Ease):
    """EASE trained on a clipped, Gaussian-noised Gram matrix: (ε, δ)-DP per user."""

    name = "dp_ease"
    config_class = DpEaseConfig

    @property
    def privacy_(self) -> dict[str, float | str]:
        """The guarantee: mechanism, ε, δ, the clipping bound, sensitivity and noise σ."""
        self._check_fitted()
        cfg = self.config
        m = cfg.max_items_per_user
        return {"mechanism": "analytic gaussian on the Gram matrix, user-level "
                             "(add/remove one user)",
                "epsilon": cfg.epsilon, "delta": cfg.delta, "max_items_per_user": m,
                "sensitivity": sensitivity(m), "sigma": self.sigma_}

    def _fit_weights(self, x: sp.csr_matrix) -> np.ndarray:
        with threadpool_limits(limits=self.config.threads or None, user_api="blas"):
            return self._private_weights(x)

    def _private_weights(self, x: sp.csr_matrix) -> np.ndarray:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        clipped = clip_rows(x, cfg.max_items_per_user, rng)
        g = gram(clipped, np.float64)
        n = g.shape[0]
        self.sigma_ = gaussian_sigma(cfg.epsilon, cfg.delta, sensitivity(cfg.max_items_per_user))
        if self.sigma_ > 0:
            g = psd_projection(g + symmetric_noise(n, self.sigma_, rng))
        l2 = cfg.l2 + cfg.noise_ridge * 2.0 * self.sigma_ * math.sqrt(n)
        lam = l2 + cfg.dropout / (1.0 - cfg.dropout) * np.diagonal(g)
        np.einsum("ii->i", g)[:] += lam
        if not spd_inverse_inplace(g):
            raise ModelError(f"dp_ease: the regularised Gram matrix is not positive definite; "
                             f"increase l2 (now {cfg.l2})")
        p_diag = np.diagonal(g).copy()
        b = -g * (1.0 / p_diag if cfg.zero_diagonal else lam)
        np.fill_diagonal(b, 0.0 if cfg.zero_diagonal else 1.0 - p_diag * lam)
        return b.astype(np.float32)

    def _manifest_extra(self) -> dict[str, Any]:
        return {"privacy": self.privacy_}

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        try:
            self.sigma_ = float(extra["privacy"]["sigma"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"manifest field extra.privacy.sigma missing ({exc})") from None

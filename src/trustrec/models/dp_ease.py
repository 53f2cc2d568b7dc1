"""``dp_ease``: EASE with user-level differential privacy on its sufficient statistic.

EASE learns only from the Gram matrix ``G = XᵀX``. The mechanism:

1. **Public catalogue**: the items (rows and columns of G) come from a public item table,
   never from the interactions (:mod:`trustrec.models.dp_input`).
2. **Clipping**: each user keeps at most ``max_items_per_user`` interactions (binary
   values), a uniform sample fixed by a keyed hash of (``seed``, user ID, item ID), so one
   user's choice never depends on who else is in the data. Adding or removing one user
   then changes G by ``x xᵀ`` whose upper triangle (diagonal included) has L2 norm
   ``√(c(c+1)/2) ≤ √(m(m+1)/2) = Δ`` for ``c ≤ m`` items.
3. **Noise**: i.i.d. ``N(0, σ²)`` on the upper triangle of G (mirrored onto the lower one),
   drawn from the OS CSPRNG (:mod:`trustrec.models.dp_noise`), never from the seed, with σ
   from the analytic Gaussian mechanism for (``epsilon``, ``delta``) and sensitivity Δ
   (:func:`trustrec.models.dp_accounting.gaussian_sigma`). This release is (ε, δ)-DP with
   respect to adding or removing one user's entire history.
4. **Post-processing** (free under DP): the noisy diagonal (clipped item counts plus noise)
   is the popularity served to empty histories; projection of the noisy G onto the
   positive semi-definite cone, a ridge ``l2 + noise_ridge · 2σ√n`` (2σ√n is the spectral
   norm of the noise; the item count n is public) and the EASE closed form give B.

The whole budget goes to G; the artifact holds B, the noisy popularity and the public
catalogue, and nothing about the training users (:mod:`trustrec.models.dp_release`).
``epsilon = inf`` gives clipped, noiseless EASE (not private).
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
from trustrec.models.dp_input import clipped_input
from trustrec.models.dp_noise import secure_normal
from trustrec.models.dp_release import USER_LEVEL, PrivateRelease, statement
from trustrec.models.ease import (
    Ease,
    EaseConfig,
    _symmetrize_from_upper,
    gram,
    spd_inverse_inplace,
)
from trustrec.models.registry import register


@dataclass(frozen=True)
class DpEaseConfig(EaseConfig):
    """EASE's parameters plus ``epsilon`` (> 0, ``inf``: no noise) and ``delta`` (in (0, 1))
    of the user-level guarantee, ``max_items_per_user`` (the clipping bound m),
    ``noise_ridge`` (≥ 0, extra ridge per unit of noise spectral norm) and ``seed`` (which
    items clipping keeps; never the noise)."""

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


def sensitivity(max_items: int) -> float:
    """L2 sensitivity of the Gram matrix's upper triangle to one user with ≤ m items."""
    return math.sqrt(max_items * (max_items + 1) / 2.0)


def add_symmetric_noise(g: np.ndarray, sigma: float) -> None:
    """Add i.i.d. ``N(0, σ²)`` CSPRNG noise to the upper triangle (diagonal included) of the
    symmetric C-order ``g`` and mirror it onto the lower one, in place."""
    n = g.shape[0]
    noise = secure_normal(n * (n + 1) // 2, sigma)
    offset = 0
    for i in range(n):
        g[i, i:] += noise[offset:offset + n - i]
        offset += n - i
    _symmetrize_from_upper(g)


def psd_projection(a: np.ndarray) -> np.ndarray:
    """The nearest (Frobenius) positive semi-definite matrix to the symmetric ``a``."""
    w, v = np.linalg.eigh(a)
    return (v * np.maximum(w, 0.0)) @ v.T


@register
class DpEase(PrivateRelease, Ease):
    """EASE trained on a clipped, Gaussian-noised Gram matrix: (ε, δ)-DP per user."""

    name = "dp_ease"
    config_class = DpEaseConfig

    def _privacy(self) -> dict[str, Any]:
        cfg = self.config
        m = cfg.max_items_per_user
        return statement(
            mechanism="analytic Gaussian mechanism on the clipped Gram matrix XᵀX",
            epsilon=cfg.epsilon, delta=cfg.delta, unit="user (entire history)",
            neighbouring=USER_LEVEL,
            budget="all of (ε, δ) to the Gram matrix's upper triangle; everything released "
                   "is computed from the noisy matrix (post-processing)",
            released={
                "state.B": "item-item weights: PSD projection, ridge and EASE solve of the "
                           "noisy Gram matrix",
                "state.popularity": "scores for empty histories: the noisy Gram matrix's "
                                    "diagonal (clipped item counts plus noise)",
                "index.item_ids": "the public item catalogue (an input, not computed from "
                                  "the interactions)",
                "config": "the hyper-parameters (public; see docs/privacy.md on choosing "
                          "them without the private data)",
            },
            max_items_per_user=m, sensitivity=sensitivity(m), sigma=self.sigma_)

    def _fit_weights(self, x: sp.csr_matrix) -> np.ndarray:
        with threadpool_limits(limits=self.config.threads or None, user_api="blas"):
            return self._private_weights(x)

    def _private_weights(self, x: sp.csr_matrix) -> np.ndarray:
        """B from the noisy Gram matrix; also sets the noisy popularity (its diagonal)."""
        cfg = self.config
        clipped = clipped_input(x, self.user_index_.ids, self.item_index_.ids,
                                cfg.max_items_per_user, cfg.seed)
        g = gram(clipped, np.float64)
        n = g.shape[0]
        self.sigma_ = gaussian_sigma(cfg.epsilon, cfg.delta, sensitivity(cfg.max_items_per_user))
        if self.sigma_ > 0:
            add_symmetric_noise(g, self.sigma_)
        self.item_popularity_ = np.diagonal(g).astype(np.float32)  # never the raw counts
        if self.sigma_ > 0:
            g = psd_projection(g)
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

    def _weights_state(self) -> dict[str, np.ndarray]:
        return {"B": self.weights_, "popularity": self.item_popularity_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._load_state(arrays)
        popularity = arrays["popularity"]
        if popularity.shape != (self.n_items_,) or popularity.dtype != np.float32:
            raise ValueError(f"popularity has shape {popularity.shape} and dtype "
                             f"{popularity.dtype}, expected ({self.n_items_},) float32")
        self.item_popularity_ = popularity

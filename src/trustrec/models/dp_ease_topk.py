"""``dp_ease_topk``: EASE on privately selected items, with user-level differential privacy.

DP-EASE (:mod:`trustrec.models.dp_ease`) spends its whole budget on an n × n Gram matrix
whose noise dwarfs most item pairs' co-counts. This variant spends it where the signal is:

1. **Public catalogue** and **per-user scaling**: a user's row of c items is scaled by
   ``a = min(1, (m(m+1)/(c(c+1)))^¼)`` (:func:`trustrec.models.dp_input.scaled_rows`,
   m = ``max_items_per_user``), the weight depending on that user alone. A heavy user keeps
   every item at a lower weight instead of a sample of m items: the same sensitivity,
   c/m times more of their co-occurrences.
2. **Release 1 — item selection and popularity**: the scaled column sums over the whole
   catalogue (L2 sensitivity ``Δ₁ = (m(m+1))^¼``) plus Gaussian noise. The ``top_items``
   = k items with the largest noisy sums are kept; the noisy sums are the popularity
   served to empty histories and the tie-break between items.
3. **Release 2 — the kept sub-Gram**: the upper triangle of ``X̃_Kᵀ X̃_K`` over the kept
   items only, each row re-scaled over its kept items (``Δ₂ = √(m(m+1)/2)``), plus Gaussian
   noise. The selection is public once released, so this step may depend on it.
4. **Budget split** by exact composition of Gaussian mechanisms (μ-GDP, Dong, Roth & Su
   2022; :mod:`trustrec.models.dp_accounting`): (ε, δ) allows μ; release 1 gets the share
   ``selection_share`` = ρ of μ², release 2 the rest, so
   ``σ₁ = Δ₁/(μ√ρ)`` and ``σ₂ = Δ₂/(μ√(1−ρ))``. Noise from the OS CSPRNG
   (:mod:`trustrec.models.dp_noise`).
5. **Post-processing** (free): the noisy sub-Gram's eigenvalues below the noise edge
   ``2σ₂√k`` are dropped and the rest shrunk to the spike they come from
   (``θ = (λ + √(λ² − 4σ₂²k))/2``, spiked-Wigner inversion): a low-rank estimate of the
   signal. EASE's closed form with ridge ``l2`` on it gives the k × k weights B. A user's
   scores are ``x_K · B`` on the kept items plus ``popularity_weight`` times the noisy
   popularity scaled to a maximum of 1 (which alone ranks the other items).

The artifact holds B, the kept items, the noisy popularity, the public catalogue and the
configuration: everything in it is a function of the two releases. ``epsilon = inf`` gives
the same model without noise (not private).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from trustrec.data.dataset import Dataset
from trustrec.errors import ModelError
from trustrec.models.base import Recommender
from trustrec.models.config import Config, require
from trustrec.models.dp_accounting import split_sigmas
from trustrec.models.dp_ease import add_symmetric_noise
from trustrec.models.dp_input import scaled_rows
from trustrec.models.dp_noise import secure_normal
from trustrec.models.dp_release import USER_LEVEL, PrivateRelease, statement
from trustrec.models.ease import gram, spd_inverse_inplace
from trustrec.models.registry import register


@dataclass(frozen=True)
class DpEaseTopkConfig(Config):
    """``epsilon`` (> 0, ``inf``: no noise) and ``delta`` (in (0, 1)) of the user-level
    guarantee; ``max_items_per_user`` (m: users with more items are scaled down to the
    sensitivity of m); ``top_items`` (k, the items kept); ``selection_share`` (ρ in (0, 1),
    the share of the budget, as μ², spent on selection and popularity); ``l2`` (> 0, EASE's
    ridge); ``popularity_weight`` (≥ 0, weight of the scaled noisy popularity in every
    score); ``threads`` (BLAS threads during fit, 0: the library's default). The defaults
    were chosen on validation splits carved from training data (docs/privacy.md)."""

    epsilon: float = 8.0
    delta: float = 1e-5
    max_items_per_user: int = 2
    top_items: int = 100
    selection_share: float = 0.3
    l2: float = 50.0
    popularity_weight: float = 0.1
    threads: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        name = "dp_ease_topk"
        require(self.epsilon > 0, name, "epsilon", "> 0 (inf: no noise)", self.epsilon)
        require(0 < self.delta < 1, name, "delta", "in (0, 1)", self.delta)
        require(self.max_items_per_user >= 1, name, "max_items_per_user", "≥ 1",
                self.max_items_per_user)
        require(self.top_items >= 1, name, "top_items", "≥ 1", self.top_items)
        require(0 < self.selection_share < 1, name, "selection_share", "in (0, 1)",
                self.selection_share)
        require(math.isfinite(self.l2) and self.l2 > 0, name, "l2", "a finite number > 0",
                self.l2)
        require(math.isfinite(self.popularity_weight) and self.popularity_weight >= 0, name,
                "popularity_weight", "a finite number ≥ 0", self.popularity_weight)
        require(self.threads >= 0, name, "threads", "≥ 0 (0: BLAS default)", self.threads)


def sensitivities(max_items: int) -> tuple[float, float]:
    """L2 sensitivities (Δ₁ of the scaled column sums, Δ₂ of the scaled Gram's upper
    triangle) to one user, for the scaling bound m (see :func:`scaled_rows`)."""
    bound = max_items * (max_items + 1.0)
    return bound ** 0.25, math.sqrt(bound / 2.0)


def denoise_spectrum(g: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """Low-rank estimate of the signal in the symmetric ``g`` = signal + symmetric i.i.d.
    ``N(0, σ²)`` noise: eigenvalues λ above the noise edge ``2σ√k`` become the spike
    ``(λ + √(λ² − 4σ²k))/2`` that produces them, the others 0. Returns (estimate, rank)."""
    w, v = np.linalg.eigh(g)
    edge = 2.0 * sigma * math.sqrt(g.shape[0])
    keep = w > edge
    theta = (w[keep] + np.sqrt(w[keep] ** 2 - edge ** 2)) / 2.0
    return (v[:, keep] * theta) @ v[:, keep].T, int(keep.sum())


def ease_from_gram(g: np.ndarray, l2: float) -> np.ndarray:
    """EASE's zero-diagonal weights ``B = I − P·diag(1/diag P)``, ``P = (G + l2·I)⁻¹``, for a
    positive semi-definite ``g`` (overwritten)."""
    np.einsum("ii->i", g)[:] += l2
    if not spd_inverse_inplace(g):
        raise ModelError(f"dp_ease_topk: the regularised Gram matrix is not positive "
                         f"definite; increase l2 (now {l2})")
    b = g / -np.diagonal(g)
    np.fill_diagonal(b, 0.0)
    return b


@register
class DpEaseTopk(PrivateRelease, Recommender):
    """EASE on the top-k items of a noisy popularity count, from a noisy, denoised sub-Gram
    matrix: (ε, δ)-DP per user, the budget split between the two releases."""

    name = "dp_ease_topk"
    config_class = DpEaseTopkConfig

    def _privacy(self) -> dict[str, Any]:
        cfg = self.config
        d1, d2 = sensitivities(cfg.max_items_per_user)
        share = cfg.selection_share
        return statement(
            mechanism="two analytic-Gaussian releases: scaled item counts over the catalogue "
                      "(selection, popularity), then the scaled Gram matrix of the top "
                      "items by noisy count",
            epsilon=cfg.epsilon, delta=cfg.delta, unit="user (entire history)",
            neighbouring=USER_LEVEL,
            budget=f"μ-GDP composition (Dong, Roth & Su 2022): (ε, δ) allows μ; the counts "
                   f"get {share:g}·μ², the sub-Gram matrix {1 - share:g}·μ²; everything "
                   f"released is computed from these two noisy releases (post-processing)",
            released={
                "state.popularity": "noisy scaled item counts (release 1): the scores for "
                                    "empty histories and the popularity term",
                "state.kept": "the top_items items by noisy count (post-processing of "
                              "release 1)",
                "state.B": "EASE weights among the kept items: eigenvalue-denoised noisy "
                           "sub-Gram matrix (release 2), ridge and EASE solve",
                "index.item_ids": "the public item catalogue (an input, not computed from "
                                  "the interactions)",
                "config": "the hyper-parameters (public; see docs/privacy.md on choosing "
                          "them without the private data)",
            },
            max_items_per_user=cfg.max_items_per_user, sensitivity_counts=d1,
            sensitivity_gram=d2, sigma_counts=self.sigma_counts_,
            sigma_gram=self.sigma_gram_, rank=self.rank_)

    def _fit(self, dataset: Dataset) -> None:
        with threadpool_limits(limits=self.config.threads or None, user_api="blas"):
            self._release(self.seen_)

    def _release(self, x: sp.csr_matrix) -> None:
        """The two noisy releases and their post-processing (see the module)."""
        cfg = self.config
        d1, d2 = sensitivities(cfg.max_items_per_user)
        self.sigma_counts_, self.sigma_gram_ = split_sigmas(
            cfg.epsilon, cfg.delta, (d1, d2), (cfg.selection_share, 1 - cfg.selection_share))
        counts = np.asarray(scaled_rows(x, cfg.max_items_per_user).sum(axis=0)).ravel()
        if self.sigma_counts_ > 0:
            counts += secure_normal(len(counts), self.sigma_counts_)
        self.item_popularity_ = counts.astype(np.float32)  # never the raw counts
        k = min(cfg.top_items, self.n_items_)
        self.kept_ = np.sort(np.argsort(-counts, kind="stable")[:k]).astype(np.int32)
        g = gram(scaled_rows(x[:, self.kept_].tocsr(), cfg.max_items_per_user), np.float64)
        self.rank_ = k
        if self.sigma_gram_ > 0:
            add_symmetric_noise(g, self.sigma_gram_)
            g, self.rank_ = denoise_spectrum(g, self.sigma_gram_)
        self.weights_ = ease_from_gram(g, cfg.l2).astype(np.float32)

    def _popularity_term(self) -> np.ndarray:
        """``popularity_weight`` × the noisy popularity scaled to a maximum of 1."""
        pop = self.item_popularity_
        top = float(np.abs(pop).max()) or 1.0
        return (self.config.popularity_weight / top * pop).astype(np.float32)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores of all items for binary input rows (n_rows × n_items)."""
        out = np.tile(self._popularity_term(), (rows.shape[0], 1))
        out[:, self.kept_] += np.asarray(rows[:, self.kept_] @ self.weights_)
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._score_rows(self.seen_[users])

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        row = sp.csr_matrix((np.ones(len(items), np.float32), items, [0, len(items)]),
                            shape=(1, self.n_items_))
        row.sum_duplicates()
        row.data[:] = 1.0
        return self._score_rows(row)[0]

    def _state(self) -> dict[str, np.ndarray]:
        return {"B": self.weights_, "kept": self.kept_, "popularity": self.item_popularity_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        pop, kept, b = arrays["popularity"], arrays["kept"], arrays["B"]
        if pop.shape != (self.n_items_,) or pop.dtype != np.float32:
            raise ValueError(f"popularity has shape {pop.shape} and dtype {pop.dtype}, "
                             f"expected ({self.n_items_},) float32")
        k = min(self.config.top_items, self.n_items_)
        if kept.shape != (k,) or kept.dtype != np.int32 or (k and (
                kept[0] < 0 or kept[-1] >= self.n_items_ or np.any(np.diff(kept) <= 0))):
            raise ValueError(f"kept must be {k} increasing int32 item indices in "
                             f"[0, {self.n_items_}); got shape {kept.shape}, dtype {kept.dtype}")
        if b.shape != (k, k) or b.dtype != np.float32:
            raise ValueError(f"B has shape {b.shape} and dtype {b.dtype}, expected ({k}, {k}) "
                             "float32")
        self.item_popularity_, self.kept_, self.weights_ = pop, kept, b

    def _load_manifest_extra(self, extra: dict[str, Any]) -> None:
        """Restore the noise scales and the rank the statement reports."""
        try:
            privacy = extra["privacy"]
            self.sigma_counts_ = float(privacy["sigma_counts"])
            self.sigma_gram_ = float(privacy["sigma_gram"])
            self.rank_ = int(privacy["rank"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"manifest field extra.privacy.sigma_counts, sigma_gram or rank "
                             f"missing or not a number ({exc})") from None

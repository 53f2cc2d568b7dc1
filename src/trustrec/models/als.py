"""``als``: implicit-feedback ALS (Hu, Koren & Volinsky 2008) via ``implicit``'s CPU solver.

Each interaction ``(u, i)`` with weight ``w`` (1 when ``implicit`` is true, else the value,
optionally BM25-weighted) is a positive preference with confidence ``C = 1 + alpha·w``;
missing pairs are negatives with confidence 1. ALS minimises
``Σ C_ui (p_ui − x_u·y_i)² + regularization (|x_u|² + |y_i|²)``.

Training is deterministic for a fixed ``seed`` at any ``threads``: ``seed`` fixes the random
initial factors and each half-step solves every user (item) independently from fixed item
(user) factors, so the thread schedule cannot change the result. BLAS runs single-threaded
during the fit, as ``implicit`` recommends. The fit ends with one exact (Cholesky) user step
from the final item factors, so every user vector is the fold-in of its own history: a
user's score is exactly the sum of its history items' credits (:meth:`Als.fold_in_credits`),
and scoring a user by index or by its history gives the same list.

Forgetting users is a refit (exact: the fit is deterministic); ``forget_users(...,
exact=False)`` takes an approximate shortcut instead (:meth:`Als._downdate`).

The defaults (``regularization=30``, ``alpha=2``) were chosen on validation splits carved from
the training parts of ml-latest-small and ML-100K (top-10 ranking of unseen items); they
beat ``implicit``'s own defaults there by a wide margin. Tiny data sets want a smaller penalty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError, ModelError
from trustrec.models.config import Config, require
from trustrec.models.factor import FactorRecommender
from trustrec.models.registry import register

if TYPE_CHECKING:
    from implicit.cpu.als import AlternatingLeastSquares


@dataclass(frozen=True)
class AlsConfig(Config):
    """``factors``: latent dimension; ``regularization``: L2 penalty (> 0); ``alpha``:
    confidence scaling, ``C = 1 + alpha·w``; ``iterations``: ALS sweeps; ``implicit``:
    binarise the interactions (true) or use their non-negative values (false); ``bm25``:
    BM25-weight the interactions first (``bm25_k1``, ``bm25_b``); ``threads``: solver threads
    (0: all cores); ``seed``: initial factors; ``scale_regularization``: multiply the penalty
    by each user's (item's) number of positive interactions (ALS-WR), Spark MLlib's rule: set
    by ``trustrec train --engine spark``, refused by the single-machine solver."""

    factors: int = 64
    regularization: float = 30.0
    alpha: float = 2.0
    iterations: int = 15
    implicit: bool = True
    bm25: bool = False
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    threads: int = 0
    seed: int = 0
    scale_regularization: bool = False

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        require(self.factors >= 1, "als", "factors", "≥ 1", self.factors)
        require(math.isfinite(self.regularization) and self.regularization > 0, "als",
                "regularization", "a finite number > 0", self.regularization)
        require(math.isfinite(self.alpha) and self.alpha >= 0, "als", "alpha",
                "a finite number ≥ 0", self.alpha)
        require(self.iterations >= 1, "als", "iterations", "≥ 1", self.iterations)
        require(math.isfinite(self.bm25_k1) and self.bm25_k1 >= 0, "als", "bm25_k1",
                "a finite number ≥ 0", self.bm25_k1)
        require(0.0 <= self.bm25_b <= 1.0, "als", "bm25_b", "in [0, 1]", self.bm25_b)
        require(self.threads >= 0, "als", "threads", "≥ 0 (0: all cores)", self.threads)
        require(self.seed >= 0, "als", "seed", "≥ 0", self.seed)


def bm25_idf(x: sp.csr_matrix) -> np.ndarray:
    """BM25 inverse document frequency of each item column, ``log N − log(1 + df)``, clipped at
    0 so that an item every user has gets weight 0 (confidence 1), never a negative one."""
    df = np.bincount(x.indices, minlength=x.shape[1])
    return np.maximum(np.log(x.shape[0]) - np.log1p(df), 0.0)


def bm25_weight(x: sp.csr_matrix, idf: np.ndarray, avg_length: float, k1: float,
                b: float) -> sp.csr_matrix:
    """The rows of ``x`` BM25-weighted as in ``implicit.nearest_neighbours.bm25_weight``, with
    a given ``idf`` and average row sum (the training set's) so that new rows match."""
    row_sums = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
    norm = (1.0 - b) + b * row_sums / avg_length
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    data = x.data * (k1 + 1.0) / (k1 * norm[rows] + x.data) * idf[x.indices]
    return sp.csr_matrix((data.astype(np.float32), x.indices, x.indptr), shape=x.shape)


@register
class Als(FactorRecommender):
    """Implicit ALS: scores ``x_u · y_i``; :meth:`fold_in` gives a vector for a new history."""

    name = "als"
    config_class = AlsConfig
    #: The training values (``implicit=false``), aligned with ``seen_``; None when binary.
    values_: np.ndarray | None = None

    def _weights(self, x: sp.csr_matrix) -> sp.csr_matrix:
        """Interaction weights ``w`` of the rows of ``x`` (binarised, BM25 as configured)."""
        if self.config.implicit:
            x = sp.csr_matrix((np.ones_like(x.data), x.indices, x.indptr), shape=x.shape)
        if self.config.bm25:
            x = bm25_weight(x, self.bm25_idf_, self.bm25_avg_length_, self.config.bm25_k1,
                            self.config.bm25_b)
        return x

    def _keep_values(self, dataset: Dataset) -> None:
        """Keep the training values (``implicit=false`` only; refused when negative), aligned
        with ``seen_``, so that a user's own history can be folded in exactly later."""
        if self.config.implicit:
            self.values_ = None
            return
        values = dataset.csr.data.astype(np.float32)
        if values.size and values.min() < 0:
            raise ModelError(f"als: dataset '{dataset.name}' has negative values "
                             f"(min {values.min()}); implicit=false needs values ≥ 0")
        self.values_ = values

    def training_rows(self, users: np.ndarray | slice = slice(None)) -> sp.csr_matrix:
        """The training interactions of ``users`` (all by default) with the values the fit
        used: ones, or the kept values when ``implicit`` is false."""
        x = self.seen_ if self.values_ is None else sp.csr_matrix(
            (self.values_, self.seen_.indices, self.seen_.indptr), shape=self.seen_.shape)
        return x[users]

    def training_values(self) -> np.ndarray:
        """What the fit read, aligned with ``seen_``: ones, or the kept values."""
        return self.training_rows().data

    def _fit(self, dataset: Dataset) -> None:
        cfg = self.config
        if cfg.scale_regularization:
            raise ConfigError("als: scale_regularization=true is Spark MLlib's ALS-WR penalty; "
                              "train such a model with `trustrec train --engine spark`")
        confidence = self._training_confidence(dataset)
        with threadpool_limits(limits=1, user_api="blas"):
            solver = self._solver()
            solver.fit(confidence, show_progress=False)
            # implicit's sweeps end with an item step and solve users by conjugate gradient:
            # one exact (Cholesky) user step from the final item factors makes every user
            # vector the fold-in of its own history, so scores decompose exactly into item
            # credits (:meth:`fold_in_credits`), as Spark's sweeps, ending with users, do
            users = solver.recalculate_user(np.arange(confidence.shape[0]), confidence)
        self._set_factors(users, solver.item_factors)

    def _training_confidence(self, dataset: Dataset) -> sp.csr_matrix:
        """Keep what the fit reads (values, BM25 statistics) and return the confidences
        ``C − 1 = alpha·w`` plus one (``implicit``'s input) of the training matrix."""
        self._keep_values(dataset)
        x = self.training_rows()
        if self.config.bm25:
            self.bm25_idf_ = bm25_idf(x)
            self.bm25_avg_length_ = float(np.asarray(x.sum(axis=1)).mean())
        confidence = self._weights(x)
        confidence.data = 1.0 + self.config.alpha * confidence.data
        return confidence

    def _solver(self, user_factors: np.ndarray | None = None,
                item_factors: np.ndarray | None = None) -> AlternatingLeastSquares:
        """``implicit``'s solver configured as this model (and holding the given factors)."""
        from implicit.cpu.als import AlternatingLeastSquares  # numba-compiled: load on use

        cfg = self.config
        solver = AlternatingLeastSquares(
            factors=cfg.factors, regularization=cfg.regularization, alpha=1.0,
            dtype=np.float32, iterations=cfg.iterations, num_threads=cfg.threads,
            random_state=cfg.seed)
        solver.user_factors, solver.item_factors = user_factors, item_factors
        return solver

    def _downdate(self, old: Als, users: np.ndarray, dataset: Dataset,
                  exact: bool) -> str | None:
        """Approximate, so only when ``exact`` is false: drop the users' vectors, re-solve
        the items they touched by one exact ALS item step on the remaining users, then
        every user by one exact user step. Each user vector is then exactly the fold-in of
        its history against the new item factors; the item factors are not a retrain's
        (untouched items keep vectors learned beside the forgotten users, and a retrain
        would start from new random factors), so nothing of them is claimed equal."""
        if exact or self.config.scale_regularization:
            return None
        confidence = self._training_confidence(dataset)
        keep = np.ones(old.n_users_, dtype=bool)
        keep[users] = False
        touched = np.unique(old.seen_[users].indices)
        items = old.item_factors_.copy()
        with threadpool_limits(limits=1, user_api="blas"):
            solver = self._solver(old.user_factors_[keep], items)
            items[touched] = solver.recalculate_item(touched, confidence.T.tocsr()[touched])
            solver = self._solver(None, items)
            vectors = solver.recalculate_user(np.arange(self.n_users_), confidence)
        self._set_factors(vectors, items)
        return "als-approximate-item-step"

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray,
                     item_bias: np.ndarray | None = None) -> None:
        super()._set_factors(user_factors, item_factors, item_bias)
        y = self.item_factors_.astype(np.float64)
        self.item_gram_ = y.T @ y

    def fold_in(self, history_items: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """The user vector (float32, ``factors``) that an ALS user step gives for a history.

        ``history_items`` are item indices (repeats add up, as in training); ``values`` their
        values, needed when ``implicit`` is false and ignored otherwise. Solves
        ``(YᵀY + Yᵀ(C − I)Y + λ·I) x = YᵀC p`` exactly against the trained item factors, with
        ``λ = regularization`` (times the number of positive history items when
        ``scale_regularization`` is set, as Spark solved it).
        """
        self._check_fitted()
        items = self._check_items(history_items)
        if values is None:
            if not self.config.implicit:
                raise ModelError("als: fold_in needs values when implicit=false")
            vals = np.ones(len(items), dtype=np.float32)
        else:
            vals = np.atleast_1d(np.asarray(values, dtype=np.float32))
            if vals.shape != items.shape or not np.isfinite(vals).all():
                raise ModelError(f"als: fold_in values must be {len(items)} finite numbers, "
                                 f"one per history item; got shape {vals.shape}")
            if not self.config.implicit and vals.size and vals.min() < 0:
                raise ModelError(f"als: fold_in values must be ≥ 0; got min {vals.min()}")
        _, confidence, y, lhs = self._user_step(self._history_row(items, vals))
        return np.linalg.solve(lhs, y.T @ confidence).astype(np.float32)

    def _history_row(self, items: np.ndarray, values: np.ndarray) -> sp.csr_matrix:
        """A history as one CSR row over the items, repeats summed."""
        row = sp.csr_matrix((values, items, [0, len(items)]), shape=(1, self.n_items_))
        row.sum_duplicates()
        return row

    def _user_step(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
        """The ALS user step of one history row: its items, their confidences ``c``, their
        factors ``Y_h`` and ``A = YᵀY + Y_hᵀ(C − I)Y_h + λ·I`` (float64), so that the user
        vector solves ``A x = Y_hᵀ c``; ``λ = regularization``, times the number of positive
        history items when ``scale_regularization`` is set (Spark's ALS-WR)."""
        row = self._weights(row)
        confidence = 1.0 + self.config.alpha * row.data.astype(np.float64)
        y = self.item_factors_[row.indices].astype(np.float64)
        lhs = self.item_gram_ + (y.T * (confidence - 1.0)) @ y
        penalty = self.config.regularization
        if self.config.scale_regularization:
            penalty *= max(1, int((row.data > 0).sum()))
        lhs[np.diag_indices_from(lhs)] += penalty
        return row.indices, confidence, y, lhs

    def fold_in_credits(self, user: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        """``(history items, credits)``: the share ``c_j · y_iᵀ A⁻¹ y_j`` of each of user
        index ``user``'s training items ``j`` in the score of ``item`` (Hu, Koren & Volinsky
        2008). The user vector is the user step of that history (:meth:`_user_step`), so
        the credits add up to ``score(user, item)`` up to float32 rounding."""
        self._check_fitted()
        indices, confidence, y, lhs = self._user_step(self.training_rows([user]))
        solved = np.linalg.solve(lhs, self.item_factors_[item].astype(np.float64))
        return indices, confidence * (y @ solved)

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self.item_factors_ @ self.fold_in(items, values)

    def _state(self) -> dict[str, np.ndarray]:
        state = super()._state()
        if self.values_ is not None:
            state["values"] = self.values_
        if self.config.bm25:
            state["bm25_idf"] = self.bm25_idf_
            state["bm25_avg_length"] = np.array([self.bm25_avg_length_])
        return state

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._load_state(arrays)
        self.values_ = None if self.config.implicit else arrays["values"]
        if self.values_ is not None and self.values_.shape != (self.seen_.nnz,):
            raise ValueError(f"values has shape {self.values_.shape}, expected "
                             f"({self.seen_.nnz},)")
        if self.config.bm25:
            idf, avg = arrays["bm25_idf"], arrays["bm25_avg_length"]
            if idf.shape != (self.n_items_,) or avg.shape != (1,):
                raise ValueError(f"bm25 arrays have shapes {idf.shape} and {avg.shape}, "
                                 f"expected ({self.n_items_},) and (1,)")
            self.bm25_idf_, self.bm25_avg_length_ = idf, float(avg[0])

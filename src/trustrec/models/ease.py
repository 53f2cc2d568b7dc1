"""``ease``: Embarrassingly Shallow Autoencoder (Steck 2019) and its dropout refinements.

With ``P = (XᵀX + Λ)⁻¹``:

* EASE (``zero_diagonal``, ``dropout = 0``): ``Λ = l2·I``, ``B = I − P·diag(1/diag P)``,
  the least-squares item-item model constrained to ``diag(B) = 0``;
* EDLAE (``dropout = p > 0``): Λ also holds ``p/(1−p)·diag(XᵀX)``, the emphasised
  denoising autoencoder of Steck (2020, "Autoencoders that don't overfit towards the
  identity"), which shrinks popular items' weights more;
* DLAE (``zero_diagonal = False``): the same paper's unconstrained solution ``B = I − PΛ``.
  Off the diagonal it differs from EASE only by column scales (Λ_jj instead of 1/P_jj),
  which favour popular items less.

P comes from a Cholesky factorisation, never a general inverse, in the smaller of two
spaces: with fewer items than users, LAPACK ``potrf``/``potri`` invert ``XᵀX + Λ`` in
place in one n_items² float32 buffer (half the flops of a general inverse at twice the
float64 throughput; float32 suffices because the matrix is SPD with eigenvalues ≥ l2, and
a failed float32 factorisation is redone in float64); with fewer users, the Woodbury
identity needs only an n_users² float64 Cholesky and one float32 product (see
:func:`_user_space`). Scores are ``X_u · B``; B is stored as float32, with ``diag(P)``
(n_items float64) beside it.

Unlearning (:meth:`Ease._downdate`): ``B = I − P·diag(g)`` and ``diag(P)`` give every row
of P that a Woodbury down-date needs, so removing users' rows from X changes B by one
rank-k product (:func:`ease_downdate`) instead of a new solve: k is the number of removed
users (at most the items they touched) for EASE and DLAE, but the number of touched items
for EDLAE, whose penalty ``p/(1−p)·diag(XᵀX)`` changes on each of them.
"""

from __future__ import annotations

import logging
import math
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from trustrec.data.dataset import Dataset
from trustrec.errors import ModelError
from trustrec.models.base import SCORE_BLOCK
from trustrec.models.config import require
from trustrec.models.itemitem import ItemItemConfig, ItemItemRecommender
from trustrec.models.low_rank import LowRankUpdated
from trustrec.models.registry import register

log = logging.getLogger(__name__)

#: Largest rank of down-dates kept factored (shared old B plus the update): scoring through
#: the factors costs that many extra multiply-adds per item and user; past it, B is
#: written out anew.
MAX_PENDING_RANK = 128


@dataclass(frozen=True)
class EaseConfig(ItemItemConfig):
    """``l2`` (> 0): ridge penalty; ``dropout`` in [0, 1): EDLAE's emphasised-dropout
    penalty ``p/(1−p)·diag(XᵀX)`` (0 is plain EASE); ``zero_diagonal``: constrain
    ``diag(B) = 0`` (EASE/EDLAE) or not (DLAE); ``threads``: BLAS threads during fit
    (0: the library's default). The defaults scored best on average over validation splits
    carved from the training parts of ML-100K and ml-latest-small
    (``benchmarks/quick_topn_check.py``); DLAE did slightly better there still."""

    l2: float = 300.0
    dropout: float = 0.2
    zero_diagonal: bool = True
    threads: int = 0

    def check(self) -> None:
        """Validate ranges (``ConfigError`` naming the parameter)."""
        require(math.isfinite(self.l2) and self.l2 > 0, "ease", "l2", "a finite number > 0",
                self.l2)
        require(0.0 <= self.dropout < 1.0, "ease", "dropout", "in [0, 1)", self.dropout)
        require(self.threads >= 0, "ease", "threads", "≥ 0 (0: BLAS default)", self.threads)


def gram(x: sp.csr_matrix, dtype: type[np.floating]) -> np.ndarray:
    """Dense ``XᵀX`` (C order), built from sparse products one block of rows at a time."""
    x = x.astype(dtype)
    xt = x.T.tocsr()
    n = x.shape[1]
    out = np.zeros((n, n), dtype=dtype)
    step = max(1, SCORE_BLOCK // max(1, n))
    for start in range(0, n, step):
        (xt[start:start + step] @ x).toarray(out=out[start:start + step])
    return out


def _symmetrize_from_upper(a: np.ndarray) -> None:
    """Copy the upper triangle of the square C-order ``a`` onto its lower one, in place."""
    n = a.shape[0]
    step = max(1, SCORE_BLOCK // max(1, n))
    for start in range(0, n, step):
        stop = min(n, start + step)
        a[start:stop, :start] = a[:start, start:stop].T
        block = a[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        block[lower] = block.T[lower]


def spd_inverse_inplace(a: np.ndarray) -> bool:
    """Overwrite the symmetric positive definite C-order ``a`` with its inverse (Cholesky).

    Returns False, leaving ``a`` garbage, when the factorisation finds ``a`` not positive
    definite at its precision.
    """
    fortran = a.T  # same memory, Fortran order; equal to ``a`` since ``a`` is symmetric
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (fortran,))
    factor, info = potrf(fortran, lower=1, overwrite_a=1, clean=0)
    if info > 0:
        return False
    inverse, info = potri(factor, lower=1, overwrite_c=1)
    if info != 0 or not np.shares_memory(inverse, a):
        raise ModelError(f"ease: LAPACK potri failed (info={info})")
    # the inverse is in the Fortran lower triangle, i.e. the upper triangle of ``a``
    _symmetrize_from_upper(a)
    return True


def _item_space(x: sp.csr_matrix, lam: np.ndarray,
                dtype: type[np.floating]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(−P, diag(P))`` by inverting ``XᵀX + Λ`` (n_items²) in place; None if not SPD."""
    g = gram(x, dtype)
    np.einsum("ii->i", g)[:] += lam  # the diagonal, as a writable view
    if not spd_inverse_inplace(g):
        return None
    p_diag = np.diagonal(g).astype(np.float64)
    np.negative(g, out=g)
    return g, p_diag


def _user_space(x: sp.csr_matrix, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(−P off the diagonal, diag(P))`` through the Woodbury identity (few users).

    ``P = Λ⁻¹ − ZᵀZ`` with ``Y = XΛ⁻¹``, ``L Lᵀ = I + YXᵀ`` (n_users², float64) and
    ``Z = L⁻¹Y``. Off the diagonal ``−P_ij = (ZᵀZ)_ij`` exactly: one float32 product;
    ``P_jj`` itself is summed in float64.
    """
    x64 = x.astype(np.float64)
    y = x64 @ sp.diags(1.0 / lam)
    k = (y @ x64.T).toarray()
    k[np.diag_indices_from(k)] += 1.0
    chol = linalg.cholesky(k, lower=True, overwrite_a=True, check_finite=False)
    z = linalg.solve_triangular(chol, y.toarray(), lower=True, overwrite_b=True,
                                check_finite=False)
    p_diag = 1.0 / lam - np.einsum("ij,ij->j", z, z)
    z32 = z.astype(np.float32)
    del z
    return z32.T @ z32, p_diag


def _solve(x: sp.csr_matrix, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(−P off the diagonal, diag(P))`` for ``P = (XᵀX + Λ)⁻¹``, in the smaller space.

    The item-space inverse runs in float32 and falls back to float64 only if the float32
    Cholesky factorisation fails.
    """
    if x.shape[0] < x.shape[1]:
        return _user_space(x, lam)
    solved = _item_space(x, lam, np.float32)
    if solved is None:
        log.warning("ease: float32 Cholesky failed; refitting in float64")
        solved = _item_space(x, lam, np.float64)
    if solved is None:
        raise ModelError(f"ease: XᵀX + Λ is not positive definite; increase l2 "
                         f"(smallest penalty {lam.min()})")
    return solved


def column_squares(x: sp.csr_matrix) -> np.ndarray:
    """``diag(XᵀX)`` (float64): each column's sum of squared values."""
    return np.bincount(x.indices, weights=np.square(x.data, dtype=np.float64),
                       minlength=x.shape[1])


def penalty(col_sq: np.ndarray, l2: float, dropout: float) -> np.ndarray:
    """Λ's diagonal: ``l2 + p/(1−p)·diag(XᵀX)`` (EDLAE's emphasised dropout ``p``)."""
    return l2 + dropout / (1.0 - dropout) * col_sq


def _column_scale(p_diag: np.ndarray, lam: np.ndarray, zero_diagonal: bool) -> np.ndarray:
    """``g`` with ``B = I − P·diag(g)``: ``1/diag(P)`` (EASE, EDLAE) or Λ (DLAE)."""
    return 1.0 / p_diag if zero_diagonal else lam


def _set_diagonal(b: np.ndarray, p_diag: np.ndarray, lam: np.ndarray,
                  zero_diagonal: bool) -> None:
    """B's diagonal: 0 (EASE, EDLAE) or ``1 − P_jj Λ_jj`` (DLAE), in place."""
    np.fill_diagonal(b, 0.0 if zero_diagonal else 1.0 - p_diag * lam)


def ease_solution(x: sp.csr_matrix, l2: float, dropout: float = 0.0,
                  zero_diagonal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(B, diag(P))``: the item-item matrix B (n_items², float32) of EASE/EDLAE or,
    without the zero-diagonal constraint, DLAE (``B = I − PΛ``) for the input matrix
    ``x``, and the diagonal of ``P = (XᵀX + Λ)⁻¹`` (float64), which :func:`ease_downdate`
    needs besides B."""
    lam = penalty(column_squares(x), l2, dropout)
    b, p_diag = _solve(x, lam)  # −P off the diagonal
    b *= _column_scale(p_diag, lam, zero_diagonal).astype(b.dtype)
    _set_diagonal(b, p_diag, lam, zero_diagonal)
    return b.astype(np.float32, copy=False), p_diag


def _downdate_factors(b: LowRankUpdated, g: np.ndarray, removed: sp.csr_matrix,
                      touched: np.ndarray, f: np.ndarray,
                      c: float) -> tuple[np.ndarray, np.ndarray]:
    """``(V, C)`` with ``P' = P + Vᵀ C V`` once the rows ``removed`` (``f``: their values
    on the ``touched`` columns) leave X: ``A' = A − FᵀF − c·diag(FᵀF)``, with rows of
    ``P = (I − B)·diag(1/g)`` taken from B. Without dropout (``c = 0``) the change has rank
    ``min(rows, touched)``: for fewer rows, ``V = F P = (F − F B)·diag(1/g)`` (the removed
    rows' own scores) and ``C = (I − F P Fᵀ)⁻¹`` (Sherman–Morrison–Woodbury over the
    rows); otherwise, and always with dropout, whose diagonal term makes it rank ``|S|``:
    ``V = P_S:`` and ``C = (I − M P_SS)⁻¹ M`` for ``M = FᵀF + c·diag(FᵀF)``."""
    if c == 0.0 and len(f) < len(touched):
        v = (removed.toarray() - b.product(removed)) / g
        core = np.linalg.inv(np.eye(len(f)) - v[:, touched] @ f.T)
    else:
        v = -b.rows(touched).astype(np.float64)
        v[np.arange(len(touched)), touched] += 1.0
        v /= g
        m = f.T @ f
        np.einsum("ii->i", m)[:] *= 1.0 + c
        core = np.linalg.solve(np.eye(len(touched)) - m @ v[:, touched], m)
    return v, (core + core.T) / 2.0


def downdate_rank(removed: sp.csr_matrix, dropout: float) -> int:
    """The rank of the change of XᵀX + Λ when the rows ``removed`` leave X."""
    touched = len(np.unique(removed.indices))
    return touched if dropout > 0 else min(removed.shape[0], touched)


def ease_downdate(b: LowRankUpdated, p_diag: np.ndarray, removed: sp.csr_matrix,
                  col_sq: np.ndarray, cfg: EaseConfig) -> tuple[LowRankUpdated, np.ndarray]:
    """``(B', diag(P'))`` of the fit without the rows ``removed`` of X, from ``(B, diag P)``
    of the fit with them; ``col_sq``: ``diag(XᵀX)`` with them. Exact (to float32 rounding).

    With ``B = I − P·diag(g)`` (:func:`_column_scale`), the rank-k change
    ``P' = P + VᵀCV`` (:func:`_downdate_factors`) becomes
    ``B' = B·diag(g'/g) − Vᵀ(CV·diag(g'))`` off the diagonal: a rank-k update of B, kept
    factored (``O(n_items · k)``; :class:`~trustrec.models.low_rank.LowRankUpdated`).
    """
    c = cfg.dropout / (1.0 - cfg.dropout)
    touched = np.unique(removed.indices)
    f = removed[:, touched].toarray().astype(np.float64)
    lam = penalty(col_sq, cfg.l2, cfg.dropout)
    g = _column_scale(p_diag, lam, cfg.zero_diagonal)
    v, core = _downdate_factors(b, g, removed, touched, f, c)
    w = core @ v
    new_diag = p_diag + np.einsum("kj,kj->j", w, v)
    new_col_sq = col_sq.copy()
    new_col_sq[touched] -= np.square(f).sum(axis=0)
    new_lam = penalty(new_col_sq, cfg.l2, cfg.dropout)
    new_g = _column_scale(new_diag, new_lam, cfg.zero_diagonal)
    w *= new_g
    diagonal = np.zeros(len(g)) if cfg.zero_diagonal else 1.0 - new_diag * new_lam
    return b.updated(new_g / g, v, w, diagonal), new_diag


@register
class Ease(ItemItemRecommender):
    """EASE: a dense item-item linear model with zero self-weight; scores are ``X_u · B``."""

    name = "ease"
    config_class = EaseConfig
    #: ``diag(P)`` of the fit (float64), kept for the unlearning down-date; None in
    #: artifacts written before it was saved (forgetting then refits).
    p_diag_: np.ndarray | None = None
    #: B as the old B plus the pending update of unlearning down-dates, or None when B is
    #: dense (see :attr:`weights_`).
    low_rank_: LowRankUpdated | None = None

    @property
    def weights_(self) -> np.ndarray:
        """B (float32, dense): written out from a pending down-date on first use."""
        pending = self.low_rank_
        if pending is not None:
            self._weights, self.low_rank_ = pending.dense(), None
        return self._weights

    @weights_.setter
    def weights_(self, value: np.ndarray) -> None:
        self._weights, self.low_rank_ = value, None

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        pending = self.low_rank_
        return super()._score_rows(rows) if pending is None else pending.product(rows)

    def _fit_weights(self, x: sp.csr_matrix) -> np.ndarray:
        with self._blas_threads():
            b, self.p_diag_ = ease_solution(x, self.config.l2, self.config.dropout,
                                            self.config.zero_diagonal)
        return b

    def _downdate(self, old: Ease, users: np.ndarray, dataset: Dataset,
                  exact: bool) -> str | None:
        """The Woodbury down-date of B (:func:`ease_downdate`) when its rank is below half
        that of a refit's solve (the user count when users are fewer than items, else
        half the item count): writing B out then costs at most half the refit's product.
        The result shares the old B and keeps the update factored up to rank
        :data:`MAX_PENDING_RANK`, so forgetting a few users writes no n_items² matrix."""
        if old.p_diag_ is None:
            return None
        removed = old.input_[users]
        refit_rank = min(self.n_users_, self.n_items_ // 2)
        if downdate_rank(removed, self.config.dropout) > refit_rank // 2:
            return None
        self._set_input(dataset)
        pending = old.low_rank_
        with self._blas_threads():
            updated, self.p_diag_ = ease_downdate(
                LowRankUpdated.of(old.weights_) if pending is None else pending,
                old.p_diag_, removed, column_squares(old.input_), self.config)
            if updated.rank > MAX_PENDING_RANK:
                self.weights_ = updated.dense()
            else:
                self.low_rank_ = updated
        return "ease-woodbury-downdate"

    def _blas_threads(self) -> AbstractContextManager[object]:
        """BLAS limited to ``config.threads`` (no limit, and no library scan, when 0)."""
        if not self.config.threads:
            return nullcontext()
        return threadpool_limits(limits=self.config.threads, user_api="blas")

    def _weights_state(self) -> dict[str, np.ndarray]:
        state = {"B": self.weights_}
        if self.p_diag_ is not None:
            state["p_diag"] = self.p_diag_
        return state

    def _load_weights(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        b, p_diag = arrays["B"], arrays.get("p_diag")
        if b.shape != (self.n_items_, self.n_items_) or b.dtype != np.float32:
            raise ValueError(f"B has shape {b.shape} and dtype {b.dtype}, expected "
                             f"({self.n_items_}, {self.n_items_}) float32")
        if p_diag is not None and (p_diag.shape != (self.n_items_,)
                                   or p_diag.dtype != np.float64):
            raise ValueError(f"p_diag has shape {p_diag.shape} and dtype {p_diag.dtype}, "
                             f"expected ({self.n_items_},) float64")
        self.p_diag_ = p_diag
        return b

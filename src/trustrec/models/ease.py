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
:func:`_user_space`). Scores are ``X_u · B``; B is stored as float32.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from trustrec.errors import ModelError
from trustrec.models.base import SCORE_BLOCK
from trustrec.models.config import require
from trustrec.models.itemitem import ItemItemConfig, ItemItemRecommender
from trustrec.models.registry import register

log = logging.getLogger(__name__)


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


def ease_weights(x: sp.csr_matrix, l2: float, dropout: float = 0.0,
                 zero_diagonal: bool = True) -> np.ndarray:
    """Item-item matrix B (n_items × n_items, float32) of EASE/EDLAE or, without the
    zero-diagonal constraint, DLAE (``B = I − PΛ``) for the input matrix ``x``."""
    col_sq = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel()  # diag(XᵀX)
    lam = l2 + dropout / (1.0 - dropout) * col_sq
    b, p_diag = _solve(x, lam)
    scale = 1.0 / p_diag if zero_diagonal else lam  # B_ij = −P_ij·scale_j off the diagonal
    b *= scale.astype(b.dtype)
    np.fill_diagonal(b, 0.0 if zero_diagonal else 1.0 - p_diag * lam)
    return b.astype(np.float32, copy=False)


@register
class Ease(ItemItemRecommender):
    """EASE: a dense item-item linear model with zero self-weight; scores are ``X_u · B``."""

    name = "ease"
    config_class = EaseConfig

    def _fit_weights(self, x: sp.csr_matrix) -> np.ndarray:
        limit = self.config.threads or None
        with threadpool_limits(limits=limit, user_api="blas"):
            return ease_weights(x, self.config.l2, self.config.dropout,
                                self.config.zero_diagonal)

    def _weights_state(self) -> dict[str, np.ndarray]:
        return {"B": self.weights_}

    def _load_weights(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        b = arrays["B"]
        if b.shape != (self.n_items_, self.n_items_) or b.dtype != np.float32:
            raise ValueError(f"B has shape {b.shape} and dtype {b.dtype}, expected "
                             f"({self.n_items_}, {self.n_items_}) float32")
        return b

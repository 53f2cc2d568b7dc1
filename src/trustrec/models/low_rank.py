"""A square matrix kept as a shared base plus a low-rank update, never written densely.

``W = base·diag(scale) − leftᵀ·right`` with its diagonal replaced by ``diagonal``. EASE's
unlearning down-date (:func:`trustrec.models.ease.ease_downdate`) changes B by such an
update; keeping it factored lets a forgotten model share the old model's ``n × n`` base
(read-only) instead of writing a new one, so forgetting costs ``O(n·k)``, not ``O(n²)``
memory traffic. Products with sparse rows and single rows are computed through the
factors; :meth:`LowRankUpdated.dense` writes the matrix once when something needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import linalg


@dataclass(frozen=True)
class LowRankUpdated:
    """``base·diag(scale) − leftᵀ·right``, diagonal set to ``diagonal`` (all float32;
    ``left``/``right``: rank × n). ``fix`` is what the diagonal needs on top of the
    factored form (``diagonal`` minus the factored form's own diagonal)."""

    base: np.ndarray
    scale: np.ndarray
    left: np.ndarray
    right: np.ndarray
    fix: np.ndarray

    @classmethod
    def of(cls, base: np.ndarray) -> LowRankUpdated:
        """``base`` itself: scale one, rank 0, its own diagonal."""
        n = base.shape[0]
        empty = np.empty((0, n), dtype=np.float32)
        return cls(base, np.ones(n, np.float32), empty, empty, np.zeros(n, np.float32))

    @property
    def rank(self) -> int:
        """Rows of the pending update."""
        return len(self.left)

    def updated(self, scale: np.ndarray, left: np.ndarray, right: np.ndarray,
                diagonal: np.ndarray) -> LowRankUpdated:
        """``self·diag(scale) − leftᵀ·right`` with diagonal ``diagonal``, composed onto the
        same base: ``base·diag(s₁s₂) − [L₁; L₂]ᵀ·[R₁·diag(s₂); R₂]``."""
        scale = scale.astype(np.float32)
        left = np.vstack([self.left, left.astype(np.float32)])
        right = np.vstack([self.right * scale, right.astype(np.float32)])
        total = self.scale * scale
        own = np.diagonal(self.base) * total - np.einsum("kj,kj->j", left, right)
        return LowRankUpdated(self.base, total, left, right,
                              (diagonal - own).astype(np.float32))

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The rows ``index`` of the matrix, dense."""
        out = self.base[index] * self.scale - self.left[:, index].T @ self.right
        out[np.arange(len(index)), index] += self.fix[index]
        return out

    def product(self, x: sp.csr_matrix) -> np.ndarray:
        """``x @ matrix`` for sparse rows ``x`` (dense result)."""
        out = np.asarray(x @ self.base, dtype=np.float32)
        out *= self.scale
        if self.rank:
            out -= np.asarray(x @ self.left.T, dtype=np.float32) @ self.right
        entries = x.tocoo()  # canonical CSR rows: no repeated (row, column)
        out[entries.row, entries.col] += entries.data * self.fix[entries.col]
        return out

    def dense(self) -> np.ndarray:
        """The matrix, written once: a scaled copy of the base, then one product added in
        place."""
        out = np.multiply(self.base, self.scale)
        if self.rank:
            gemm = linalg.blas.get_blas_funcs("gemm", (out,))
            # out.T is in Fortran order, so BLAS updates it in place
            out = gemm(-1.0, self.right, self.left, beta=1.0, c=out.T, trans_a=1,
                       overwrite_c=1).T
        np.einsum("ii->i", out)[:] += self.fix
        return out

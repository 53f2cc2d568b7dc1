"""Small sparse-matrix helpers shared by every layer above ``data``."""

from __future__ import annotations

import scipy.sparse as sp


def binarized(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A CSR copy of ``matrix`` (duplicates summed, indices sorted) whose every stored entry
    is 1, in the matrix's dtype: "who touched what" from values or counts."""
    out = sp.csr_matrix(matrix, copy=True)
    out.sum_duplicates()
    out.data[:] = 1
    return out

"""The one CSR binarisation every layer uses (issue 17, point 2)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from trustrec.data.sparse import binarized


def test_binarized_sums_duplicates_keeps_dtype_and_leaves_the_input_alone() -> None:
    # row 0 stores (0, 2) twice, unsummed
    m = sp.csr_matrix((np.array([3.0, 2.0, 5.0], np.float32), [2, 2, 0], [0, 2, 3]),
                      shape=(2, 3))
    out = binarized(m)
    assert out.dtype == np.float32 and out.has_sorted_indices
    assert out.toarray().tolist() == [[0, 0, 1], [1, 0, 0]]
    assert m.data.tolist() == [3.0, 2.0, 5.0]  # a copy: the input keeps its values

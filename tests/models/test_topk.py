"""Top-K selection: the one-row fast path agrees with the batched one, ties included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trustrec.models.topk import top_k, top_k_row


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.sampled_from([-np.inf, -1.0, 0.0, 0.5, 1.0, 2.0]), min_size=1,
                       max_size=40),
       k=st.integers(0, 45))
def test_top_k_row_is_top_k_of_one_row(values: list[float], k: int) -> None:
    row = np.asarray(values, dtype=np.float32)
    items, top = top_k(row[None, :], k)
    fast_items, fast_top = top_k_row(row, k)
    np.testing.assert_array_equal(fast_items, items[0])
    np.testing.assert_array_equal(fast_top, top[0])

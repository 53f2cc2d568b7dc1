"""``IdLookup`` answers exactly as ``IdIndex.lookup_known`` for the IDs a request carries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trustrec.data.ids import IdIndex
from trustrec.serve.lookup import IdLookup


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=30, unique=True),
       st.lists(st.text(min_size=1, max_size=5), max_size=10))
def test_string_ids_match_the_index(ids: list[str], queries: list[str]) -> None:
    index = IdIndex(ids)
    query = np.array(ids[:3] + queries, dtype=str)
    got_idx, got_known = IdLookup(index).known(query)
    want_idx, want_known = index.lookup_known(query)
    np.testing.assert_array_equal(got_known, want_known)
    np.testing.assert_array_equal(got_idx[got_known], want_idx[want_known])


def test_integer_ids_parse_strings_and_refuse_garbage() -> None:
    lookup = IdLookup(IdIndex(np.array([10, 3, 77, -4])))
    idx, known = lookup.known(["77", "3", "x", "5", "", "-4", "99999999999999999999", "--4",
                               "4-"])
    assert known.tolist() == [True, True, False, False, False, True, False, False, False]
    assert idx[known].tolist() == [2, 1, 3]
    assert lookup.get("10") == 0 and lookup.get("11") is None

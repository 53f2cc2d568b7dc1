"""Property tests for IdIndex: IDs round-trip, unknown IDs are explicit, strings stay strings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustrec.data import IdIndex
from trustrec.errors import UnknownIdError

# IDs come from decoded text: no lone surrogates (not encodable), no NUL (numpy unicode
# arrays drop trailing NULs)
str_ids = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                  max_size=8)
int_ids = st.integers(min_value=-(2**62), max_value=2**62)
digit_ids = st.text(alphabet="0123456789", min_size=1, max_size=4)
SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(st.lists(str_ids, min_size=1, max_size=40))
def test_factorize_round_trips_string_ids(values):
    index, codes = IdIndex.factorize(values)
    assert index.kind == "str" and codes.dtype == np.int32
    assert index.to_external(codes).tolist() == values
    assert index.ids.tolist() == list(dict.fromkeys(values))  # first-appearance order
    assert index.lookup(values).tolist() == codes.tolist()


@SETTINGS
@given(st.lists(int_ids, min_size=1, max_size=40))
def test_factorize_round_trips_integer_ids(values):
    index, codes = IdIndex.factorize(np.array(values, dtype=np.int64))
    assert index.kind == "int"
    assert index.to_external(codes).tolist() == values


@SETTINGS
@given(st.lists(digit_ids, min_size=1, max_size=20, unique=True))
def test_digit_strings_stay_strings(values):
    index = IdIndex(values)
    assert index.kind == "str"
    assert index.ids.tolist() == values  # "007" is not 7, nor "7"
    assert all(isinstance(v, str) for v in index.to_external(np.arange(len(values))).tolist())
    padded = ["0" + v for v in values]
    _, known = index.lookup_known(padded)
    assert known.tolist() == [p in values for p in padded]


@SETTINGS
@given(st.lists(str_ids, min_size=1, max_size=20, unique=True),
       st.lists(str_ids, min_size=1, max_size=20))
def test_unknown_ids_are_explicit(known_ids, queries):
    index = IdIndex(known_ids)
    idx, known = index.lookup_known(queries)
    assert known.tolist() == [q in known_ids for q in queries]
    assert index.to_external(idx[known]).tolist() == [q for q in queries if q in known_ids]
    if known.all():
        assert index.lookup(queries).tolist() == idx.tolist()
    else:
        with pytest.raises(UnknownIdError, match="unknown"):
            index.lookup(queries)


@SETTINGS
@given(st.lists(str_ids, min_size=1, max_size=20, unique=True), st.lists(str_ids, max_size=20))
def test_extend_keeps_existing_indices(first, more):
    index = IdIndex(first)
    bigger = index.extend(more)
    assert bigger.ids[: len(index)].tolist() == first
    assert set(bigger.ids.tolist()) == set(first) | set(more)


def test_string_queries_against_integer_ids_never_guess():
    index = IdIndex(np.array([7, 42], dtype=np.int64))
    idx, known = index.lookup_known(["42", "abc", "4.5"])
    assert known.tolist() == [True, False, False] and idx[0] == 1


def test_extend_never_truncates_longer_ids():
    assert IdIndex(["a"]).extend(["bb", "007", "a"]).ids.tolist() == ["a", "bb", "007"]
    assert IdIndex(["a"]).extend([]).ids.tolist() == ["a"]
    assert IdIndex(["a"]).lookup_known([])[1].shape == (0,)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1))
def test_integer_ids_answer_to_their_own_text_only(value: int) -> None:
    index = IdIndex(np.array([value], dtype=np.int64))
    assert index.get(str(value)) == 0 and index.get(value) == 0
    for odd in (f"+{value}", f" {value}", f"{value} ", f"{value}.0", f"0{value}",
                f"{value}e0", f"-{value}" if value >= 0 else f"--{-value}"):
        assert index.get(odd) is None, odd


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=20, unique=True),
       st.lists(st.text(max_size=4) | st.integers(-60, 60).map(str), max_size=20))
def test_get_answers_as_lookup_known(ids: list[int], queries: list[str]) -> None:
    for index in (IdIndex(np.array(ids, dtype=np.int64)), IdIndex([str(i) for i in ids])):
        idx, known = index.lookup_known(np.array(queries, dtype=str))
        assert [index.get(q) for q in queries] == \
            [int(i) if k else None for i, k in zip(idx, known, strict=True)]

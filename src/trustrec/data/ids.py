"""``IdIndex``: the one place where external IDs become dense int32 indices and back."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trustrec.errors import DataError, UnknownIdError

_KINDS = ("str", "int")
#: The text of an integer ID: what ``str(int)`` writes, nothing else ("7", "-7"; not "07",
#: "+7", " 7", "7.0", "1e1"), so that text and integer IDs correspond one to one.
_INT_TEXT = re.compile(r"0|-?[1-9][0-9]*")
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _parse_int_text(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, ok)``: int64 of each text written exactly as ``str(int)`` writes it."""
    out = np.zeros(len(texts), dtype=np.int64)
    ok = np.zeros(len(texts), dtype=bool)
    for pos, text in enumerate(texts.tolist()):
        if isinstance(text, str) and _INT_TEXT.fullmatch(text):
            value = int(text)
            if _INT64[0] <= value <= _INT64[1]:
                out[pos], ok[pos] = value, True
    return out, ok


def _as_id_array(values: Any, kind: str | None = None) -> np.ndarray:
    """Coerce ``values`` to an ID array of the given kind ('str' or 'int'), or infer one."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if kind is None:
        kind = "int" if arr.dtype.kind in "iu" else "str"
    if kind == "int":
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64, copy=False)
        raise DataError(f"expected integer IDs, got values of dtype {arr.dtype}")
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind in "iuOS":
        return arr.astype(str)
    raise DataError(f"IDs must be strings or integers, got values of dtype {arr.dtype}")


class IdIndex:
    """A bijection between external IDs (all ``str`` or all ``int``) and indices ``0..n-1``.

    IDs keep the type the user gave them: strings stay strings (``"007"`` is not ``7``).
    Text queries against integer IDs match only the integer's own text (``"7"`` is ``7``;
    ``"7.0"``, ``"+7"``, ``" 7"``, ``"07"`` and ``"1e1"`` are unknown), so every caller — CLI,
    library and service — maps one text to one user. Looking up an unknown ID is an
    explicit case: :meth:`lookup` raises :class:`UnknownIdError`, :meth:`lookup_known`
    returns a mask of the IDs it knows.
    """

    __slots__ = ("_ids", "_index", "_kind")

    def __init__(self, ids: Sequence[Any] | np.ndarray, kind: str | None = None) -> None:
        arr = _as_id_array(ids, kind)
        index = pd.Index(arr)
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise DataError(f"IdIndex: duplicate ID {dup!r}")
        arr = arr.copy()
        arr.setflags(write=False)
        self._ids = arr
        self._kind = "int" if arr.dtype.kind in "iu" else "str"
        self._index = index

    @classmethod
    def factorize(cls, values: Sequence[Any] | np.ndarray) -> tuple[IdIndex, np.ndarray]:
        """Build an index from raw ID values (first appearance order) and their int32 codes."""
        arr = _as_id_array(values)
        codes, uniques = pd.factorize(arr, sort=False)
        return cls(np.asarray(uniques)), codes.astype(np.int32)

    @property
    def ids(self) -> np.ndarray:
        """External IDs in index order (read-only; ``int64`` or unicode)."""
        return self._ids

    @property
    def kind(self) -> str:
        """``'int'`` or ``'str'``: the type of the external IDs."""
        return self._kind

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __contains__(self, external: Any) -> bool:
        return bool(self.lookup_known([external])[1][0])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdIndex)
            and self._kind == other._kind
            and np.array_equal(self._ids, other._ids)
        )

    def __hash__(self) -> int:  # pragma: no cover - indices are used as values, not keys
        return hash((self._kind, len(self)))

    def __repr__(self) -> str:
        head = ", ".join(repr(v) for v in self._ids[:3].tolist())
        more = ", …" if len(self) > 3 else ""
        return f"IdIndex(n={len(self)}, kind={self._kind}, ids=[{head}{more}])"

    def _coerce_query(self, external: Any) -> tuple[np.ndarray, np.ndarray]:
        arr = np.asarray(external)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.size == 0:  # np.asarray([]) is float64: an empty query of the index's kind
            return np.empty(0, dtype=self._ids.dtype), np.ones(0, dtype=bool)
        if self._kind == "str":
            return _as_id_array(arr, "str"), np.ones(arr.shape[0], dtype=bool)
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64), np.ones(arr.shape[0], dtype=bool)
        # text queries against integer IDs: only an integer's own text, the rest is unknown
        return _parse_int_text(arr.astype(str))

    def lookup_known(self, external: Any) -> tuple[np.ndarray, np.ndarray]:
        """Map external IDs to indices; returns ``(indices, known)``.

        ``indices[~known]`` is 0 and must not be used; ``known`` says which IDs exist.
        """
        query, parsable = self._coerce_query(external)
        pos = self._index.get_indexer(query) if len(query) else np.zeros(0, dtype=np.intp)
        known = (pos >= 0) & parsable
        return np.where(known, pos, 0).astype(np.int32), known

    def get(self, external: Any) -> int | None:
        """Index of one external ID, or None when the index does not hold it (the same
        answer as :meth:`lookup_known`, in microseconds: a request's user lookup)."""
        query, parsable = self._coerce_query([external])
        if not parsable[0]:
            return None
        try:
            return int(self._index.get_loc(query[0]))
        except KeyError:
            return None

    def lookup(self, external: Any, what: str = "ID") -> np.ndarray:
        """Map external IDs to indices, raising :class:`UnknownIdError` if any is unknown."""
        idx, known = self.lookup_known(external)
        if not known.all():
            query = np.asarray(external).reshape(-1)
            missing = query[~known][:5].tolist()
            raise UnknownIdError(
                f"{int((~known).sum())} unknown {what}(s), e.g. {', '.join(map(repr, missing))}"
            )
        return idx

    def to_external(self, indices: np.ndarray) -> np.ndarray:
        """Map indices back to external IDs (raises ``DataError`` on out-of-range indices)."""
        idx = np.asarray(indices)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DataError(f"index out of range for IdIndex of size {len(self)}")
        return self._ids[idx]

    def extend(self, external: Sequence[Any] | np.ndarray) -> IdIndex:
        """A new index with the unknown IDs of ``external`` appended (existing indices keep)."""
        query, _ = self._coerce_query(external)
        _, known = self.lookup_known(query)
        new = pd.unique(query[~known])
        if len(new) == 0:
            return self
        # concatenate without casting to the old dtype: '<U1' would truncate "bb" to "b"
        return IdIndex(np.concatenate([self._ids, np.asarray(new)]), kind=self._kind)

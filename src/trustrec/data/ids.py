"""``IdIndex``: the one place where external IDs become dense int32 indices and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trustrec.errors import DataError, UnknownIdError

_KINDS = ("str", "int")


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
    Looking up an unknown ID is an explicit case: :meth:`lookup` raises
    :class:`UnknownIdError`, :meth:`lookup_known` returns a mask of the IDs it knows.
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
        # string queries against integer IDs: parse what parses, the rest is unknown
        parsed = pd.to_numeric(pd.Series(arr.astype(str)), errors="coerce")
        ok = parsed.notna().to_numpy() & (parsed.fillna(0) % 1 == 0).to_numpy()
        out = np.zeros(arr.shape[0], dtype=np.int64)
        out[ok] = parsed[ok].to_numpy().astype(np.int64)
        return out, ok

    def lookup_known(self, external: Any) -> tuple[np.ndarray, np.ndarray]:
        """Map external IDs to indices; returns ``(indices, known)``.

        ``indices[~known]`` is 0 and must not be used; ``known`` says which IDs exist.
        """
        query, parsable = self._coerce_query(external)
        pos = self._index.get_indexer(query) if len(query) else np.zeros(0, dtype=np.intp)
        known = (pos >= 0) & parsable
        return np.where(known, pos, 0).astype(np.int32), known

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

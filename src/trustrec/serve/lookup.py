"""Fast lookups of the few external IDs one request carries.

``IdIndex.lookup_known`` goes through pandas, whose fixed cost per call (about a
millisecond) would dominate a request's latency. :class:`IdLookup` answers the same
question from a sorted copy of the index's IDs with ``numpy.searchsorted``: vectorised,
microseconds for a request's handful of IDs, and built once per served model.
"""

from __future__ import annotations

import numpy as np

from trustrec.data.ids import IdIndex


class IdLookup:
    """External IDs given as strings → indices of one :class:`IdIndex`."""

    def __init__(self, index: IdIndex) -> None:
        self.kind = index.kind
        ids = index.ids if index.kind == "int" else index.ids.astype(str)
        self._order = np.argsort(ids, kind="stable").astype(np.int32)
        self._sorted = ids[self._order]

    def known(self, external: np.ndarray | list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, known)`` like ``IdIndex.lookup_known``; unknown entries index 0."""
        query = np.asarray(external, dtype=str).reshape(-1)
        if self.kind == "int":
            signed = np.char.startswith(query, "-") & (np.char.count(query, "-") == 1)
            digits = (np.char.isdigit(query) | (signed & np.char.isdigit(
                np.char.lstrip(query, "-")))) & (np.char.str_len(query) < 19)
            query_ids = np.where(digits, query, "0").astype(np.int64)
        else:
            digits, query_ids = np.ones(len(query), dtype=bool), query
        pos = np.searchsorted(self._sorted, query_ids)
        pos = np.minimum(pos, max(len(self._sorted) - 1, 0))
        found = digits & (len(self._sorted) > 0)
        if len(self._sorted):
            found &= self._sorted[pos] == query_ids
        return np.where(found, self._order[pos] if len(self._sorted) else 0, 0).astype(
            np.int32), found

    def get(self, external: str) -> int | None:
        """Index of one ID, or None when the index does not hold it."""
        idx, found = self.known([external])
        return int(idx[0]) if found[0] else None

"""``Dataset``: immutable interactions as parallel arrays, with ID indices and side tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trustrec.data.ids import IdIndex
from trustrec.errors import DataError


def _frozen(arr: np.ndarray, dtype: Any) -> np.ndarray:
    out = np.ascontiguousarray(arr, dtype=dtype)
    if out is arr:
        out = out.copy()
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions ``(user, item, value[, timestamp])`` over two :class:`IdIndex`es.

    ``user``/``item`` are int32 indices into ``user_index``/``item_index``; ``value`` is a
    float32 rating (explicit) or weight (implicit, usually 1). ``items`` and ``users`` are
    optional side tables aligned with the indices (row ``i`` describes index ``i``), with an
    ``item_id`` / ``user_id`` column. ``public_catalogue`` is true when the item index is
    exactly an item table given to :meth:`from_frame` (its IDs in its order), so that it does
    not depend on the interactions: what differentially private training needs. Every
    operation returns a new ``Dataset`` that shares the indices, so train and test splits of
    one dataset live in one index space.
    """

    user: np.ndarray
    item: np.ndarray
    value: np.ndarray
    user_index: IdIndex
    item_index: IdIndex
    timestamp: np.ndarray | None = None
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    explicit: bool = True
    rating_scale: tuple[float, float] | None = None
    name: str = "dataset"
    public_catalogue: bool = False

    def __post_init__(self) -> None:
        n = len(self.user)
        for fname in ("item", "value"):
            if len(getattr(self, fname)) != n:
                raise DataError(f"Dataset: '{fname}' has {len(getattr(self, fname))} rows, "
                                f"'user' has {n}")
        if self.timestamp is not None and len(self.timestamp) != n:
            raise DataError(f"Dataset: 'timestamp' has {len(self.timestamp)} rows, 'user' has {n}")
        object.__setattr__(self, "user", _frozen(self.user, np.int32))
        object.__setattr__(self, "item", _frozen(self.item, np.int32))
        object.__setattr__(self, "value", _frozen(self.value, np.float32))
        if self.timestamp is not None:
            object.__setattr__(self, "timestamp", _frozen(self.timestamp, np.int64))
        if n:
            if self.user.min() < 0 or self.user.max() >= len(self.user_index):
                raise DataError("Dataset: user index out of range of user_index")
            if self.item.min() < 0 or self.item.max() >= len(self.item_index):
                raise DataError("Dataset: item index out of range of item_index")
        for table, index, col in ((self.items, self.item_index, "item_id"),
                                  (self.users, self.user_index, "user_id")):
            if table is not None and len(table) != len(index):
                raise DataError(f"Dataset: side table with '{col}' has {len(table)} rows, "
                                f"index has {len(index)}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user_col: str = "user_id",
        item_col: str = "item_id",
        value_col: str | None = "rating",
        timestamp_col: str | None = "timestamp",
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        explicit: bool | None = None,
        rating_scale: tuple[float, float] | None = None,
        name: str = "dataset",
    ) -> Dataset:
        """Build a dataset from a clean interactions frame (see ``trustrec.data.validate``).

        Items listed in ``items`` but absent from ``frame`` join the item index (cold items);
        likewise for ``users``. With ``items`` the item index starts with the table's IDs in
        the table's order; when no interaction names an item outside the table the index is
        the table alone (``public_catalogue``). Missing ``value_col`` means implicit
        feedback (value 1).
        """
        for col in (user_col, item_col):
            if col not in frame.columns:
                raise DataError(f"interactions: missing column '{col}'")
        user_ids = frame[user_col].to_numpy()
        item_ids = frame[item_col].to_numpy()
        if users is not None:
            user_ids = np.concatenate([user_ids, users["user_id"].to_numpy()]) if len(users) \
                else user_ids
        n = len(frame)
        table_items = 0 if items is None else len(items)
        if table_items:  # the table first: its order, not the interactions', sets the index
            item_ids = np.concatenate([items["item_id"].to_numpy(), item_ids])
        user_index, user_codes = IdIndex.factorize(user_ids)
        item_index, item_codes = IdIndex.factorize(item_ids)
        item_codes = item_codes[table_items:]
        has_value = value_col is not None and value_col in frame.columns
        value = frame[value_col].to_numpy(np.float32) if has_value else np.ones(n, np.float32)
        ts = None
        if timestamp_col is not None and timestamp_col in frame.columns:
            ts = frame[timestamp_col].to_numpy(np.int64)
        return cls(
            user=user_codes[:n],
            item=item_codes[:n],
            value=value,
            timestamp=ts,
            user_index=user_index,
            item_index=item_index,
            items=_align(items, item_index, "item_id"),
            users=_align(users, user_index, "user_id"),
            explicit=has_value if explicit is None else explicit,
            rating_scale=rating_scale,
            name=name,
            public_catalogue=items is not None and len(item_index) == table_items,
        )

    def with_interactions(
        self,
        user: np.ndarray,
        item: np.ndarray,
        value: np.ndarray,
        timestamp: np.ndarray | None = None,
        name: str | None = None,
    ) -> Dataset:
        """A dataset over the same indices and side tables with other interactions."""
        return Dataset(
            user=user, item=item, value=value, timestamp=timestamp,
            user_index=self.user_index, item_index=self.item_index,
            items=self.items, users=self.users, explicit=self.explicit,
            rating_scale=self.rating_scale, name=name or self.name,
            public_catalogue=self.public_catalogue,
        )

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def n_users(self) -> int:
        """Number of users in the index (including users without interactions here)."""
        return len(self.user_index)

    @property
    def n_items(self) -> int:
        """Number of items in the index (including items without interactions here)."""
        return len(self.item_index)

    @property
    def has_timestamps(self) -> bool:
        """Whether interactions carry timestamps."""
        return self.timestamp is not None

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Users × items CSR matrix of values (float32, cached, read-only by convention)."""
        m = sp.csr_matrix(
            (self.value, (self.user, self.item)),
            shape=(self.n_users, self.n_items), dtype=np.float32,
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    def user_counts(self) -> np.ndarray:
        """Interactions per user index (int64, length ``n_users``)."""
        return np.bincount(self.user, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """Interactions per item index (int64, length ``n_items``)."""
        return np.bincount(self.item, minlength=self.n_items)

    def filter(self, mask: np.ndarray, name: str | None = None) -> Dataset:
        """Keep the interactions where the boolean ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise DataError(f"filter: mask has shape {mask.shape}, expected ({len(self)},)")
        ts = None if self.timestamp is None else self.timestamp[mask]
        return self.with_interactions(self.user[mask], self.item[mask], self.value[mask], ts,
                                      name=name)

    def subset(self, users: np.ndarray | None = None, items: np.ndarray | None = None) -> Dataset:
        """Keep the interactions of the given user and/or item indices (indices unchanged)."""
        mask = np.ones(len(self), dtype=bool)
        if users is not None:
            mask &= np.isin(self.user, np.asarray(users))
        if items is not None:
            mask &= np.isin(self.item, np.asarray(items))
        return self.filter(mask)

    def to_frame(self) -> pd.DataFrame:
        """Interactions with external IDs: ``user_id, item_id, rating[, timestamp]``."""
        out = {
            "user_id": self.user_index.to_external(self.user),
            "item_id": self.item_index.to_external(self.item),
            "rating": self.value,
        }
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return pd.DataFrame(out)

    def fingerprint(self) -> str:
        """SHA-256 of the interactions and indices: identifies the exact training data."""
        h = hashlib.sha256()
        for arr in (self.user, self.item, self.value):
            h.update(np.ascontiguousarray(arr).tobytes())
        if self.timestamp is not None:
            h.update(self.timestamp.tobytes())
        for index in (self.user_index, self.item_index):
            h.update(index.kind.encode())
            h.update(str(len(index)).encode())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        """Counts and density, for ``trustrec data inspect`` and logs."""
        n_u, n_i = self.n_users, self.n_items
        out: dict[str, Any] = {
            "name": self.name,
            "interactions": len(self),
            "users": n_u,
            "items": n_i,
            "density": len(self) / max(1, n_u * n_i),
            "explicit": self.explicit,
            "timestamps": self.has_timestamps,
            "item_table": self.items is not None,
            "user_table": self.users is not None,
        }
        if len(self) and self.explicit:
            out["rating_min"] = float(self.value.min())
            out["rating_max"] = float(self.value.max())
            out["rating_mean"] = float(self.value.mean())
        return out

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, interactions={len(self)}, users={self.n_users}, "
                f"items={self.n_items}, explicit={self.explicit})")


def _align(table: pd.DataFrame | None, index: IdIndex, col: str) -> pd.DataFrame | None:
    """Reorder a side table so that row ``i`` describes index ``i`` (missing rows get NaN)."""
    if table is None:
        return None
    if col not in table.columns:
        raise DataError(f"side table: missing column '{col}'")
    if table[col].duplicated().any():
        dup = table.loc[table[col].duplicated(), col].iloc[0]
        raise DataError(f"side table: duplicate {col} {dup!r}")
    keyed = table.copy()
    keyed[col] = _key_like(keyed[col].to_numpy(), index)
    keyed = keyed.set_index(col).reindex(pd.Index(index.ids, name=col)).reset_index()
    return keyed


def _key_like(values: np.ndarray, index: IdIndex) -> np.ndarray:
    if index.kind == "str":
        return np.asarray(values).astype(str)
    return np.asarray(values).astype(np.int64)

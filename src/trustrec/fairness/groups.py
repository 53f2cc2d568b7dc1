"""User groups for fairness audits: any user-table column, age bands, derived activity level.

A :class:`UserGroups` labels every user index of a dataset with one group name (or none,
code -1, where the attribute is missing). Numeric columns such as MovieLens' ``age`` are cut
into bands; ``activity`` is derived from the number of training interactions (terciles).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.errors import DataError

#: Lower edges of the default age bands (the last band is open: ``55+``).
AGE_EDGES: tuple[int, ...] = (0, 18, 25, 35, 45, 55)
#: A numeric column with more distinct values than this is cut into bands, not enumerated.
MAX_NUMERIC_LEVELS = 10
#: Name of the derived group column: training activity (low / medium / high).
ACTIVITY = "activity"


@dataclass(frozen=True)
class UserGroups:
    """Group membership of every user index: ``codes`` (n_users,) int, -1 for no group, and
    ``names[code]`` the group's label. ``column`` says what the groups are (e.g. 'gender')."""

    column: str
    codes: np.ndarray
    names: tuple[str, ...]

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.names)

    def labels(self, users: np.ndarray) -> np.ndarray:
        """Group names of user indices (``''`` for users without a group)."""
        codes = self.codes[np.asarray(users)]
        names = np.asarray([*self.names, ""], dtype=object)
        return names[np.where(codes >= 0, codes, len(self.names))]

    def members(self, group: str) -> np.ndarray:
        """User indices in ``group``."""
        if group not in self.names:
            raise DataError(f"group '{group}' not in column '{self.column}' "
                            f"(groups: {', '.join(self.names)})")
        return np.flatnonzero(self.codes == self.names.index(group))


def _band_names(edges: Sequence[float]) -> list[str]:
    names = [f"{lo:g}-{hi - 1:g}" for lo, hi in itertools.pairwise(edges)]
    names[0] = f"<{edges[1]:g}" if edges[0] == 0 else names[0]
    return [*names, f"{edges[-1]:g}+"]


def bands(values: np.ndarray, edges: Sequence[float] = AGE_EDGES) -> tuple[np.ndarray, list[str]]:
    """Cut numeric ``values`` into bands with lower ``edges`` (ascending; the last is open).

    Returns ``(codes, names)``; NaN values get code -1. Default: ages ``<18, 18-24, 25-34,
    35-44, 45-54, 55+``.
    """
    edges = [float(e) for e in edges]
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise DataError(f"bands: edges must be at least two ascending numbers, got {edges}")
    x = np.asarray(values, dtype=np.float64)
    codes = np.searchsorted(edges, x, side="right") - 1
    codes = np.where(np.isnan(x) | (codes < 0), -1, codes)
    return codes.astype(np.int64), _band_names(edges)


def activity_groups(dataset: Dataset, levels: Sequence[str] = ("low", "medium", "high")
                    ) -> UserGroups:
    """Users by training activity: equal-sized quantile bins of their interaction counts
    (users without interactions get no group)."""
    counts = dataset.user_counts().astype(np.float64)
    active = counts > 0
    if not active.any():
        raise DataError(f"dataset '{dataset.name}': no user has interactions")
    ranks = pd.Series(counts[active]).rank(method="first").to_numpy()
    codes = np.full(dataset.n_users, -1, dtype=np.int64)
    codes[active] = np.minimum((ranks - 1) * len(levels) // active.sum(), len(levels) - 1)
    return UserGroups(ACTIVITY, codes, tuple(levels))


def user_groups(dataset: Dataset, column: str,
                edges: Sequence[float] | None = None, max_groups: int = 50) -> UserGroups:
    """Groups of the users of ``dataset`` by a user-table ``column``.

    ``column='activity'`` derives low/medium/high activity from the interactions. A numeric
    column with ``edges`` or more than :data:`MAX_NUMERIC_LEVELS` distinct values is cut into
    bands (``edges``; default the age bands of :data:`AGE_EDGES`);
    ``age_group`` style text columns are taken as they are. More than ``max_groups`` distinct
    values (e.g. a zip code) is refused: group metrics over tiny groups mean nothing.
    """
    if column == ACTIVITY:
        return activity_groups(dataset)
    table = dataset.users
    if table is None:
        raise DataError(f"dataset '{dataset.name}' has no user table; load one (--users) to "
                        f"audit by '{column}'")
    if column not in table.columns or column == "user_id":
        valid = ", ".join([c for c in table.columns if c != "user_id"] + [ACTIVITY])
        raise DataError(f"user table: no column '{column}'; valid: {valid}")
    values = table[column]
    if pd.api.types.is_numeric_dtype(values) and (edges is not None
                                                  or values.nunique() > MAX_NUMERIC_LEVELS):
        codes, names = bands(values.to_numpy(), AGE_EDGES if edges is None else edges)
        used = np.unique(codes[codes >= 0])
        remap = np.full(len(names), -1)
        remap[used] = np.arange(len(used))
        return UserGroups(column, np.where(codes >= 0, remap[codes], -1),
                          tuple(names[c] for c in used))
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    codes, uniques = pd.factorize(text, sort=True)
    if len(uniques) > max_groups:
        raise DataError(f"user table: column '{column}' has {len(uniques)} distinct values, "
                        f"more than max_groups={max_groups}; choose a coarser column")
    if len(uniques) < 2:
        raise DataError(f"user table: column '{column}' has {len(uniques)} distinct value(s); "
                        "a fairness audit needs at least two groups")
    return UserGroups(column, codes.astype(np.int64), tuple(str(u) for u in uniques))

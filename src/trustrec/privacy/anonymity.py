"""Generalise quasi-identifiers in a user table and measure k-anonymity and l-diversity.

Quasi-identifiers (age, zip code, gender, occupation, …) can single out a person even
when the ID is a pseudonym. :func:`generalize_users` coarsens them (ages into bands, zip
codes to a prefix); :func:`anonymity_report` measures the result: the table is
*k-anonymous* when every combination of quasi-identifier values is shared by at least k
users, and *l-diverse* for a sensitive column when each such group holds at least l
distinct values of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trustrec.errors import DataError


def _age_bands(values: pd.Series, width: int, column: str) -> pd.Series:
    age = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & age.isna()
    if bad.any():
        raise DataError(f"user table: column '{column}' holds non-numeric age "
                        f"{values[bad].iloc[0]!r} (row {int(np.flatnonzero(bad)[0])}); "
                        "expected whole years")
    low = (age // width * width).astype("Int64")
    text = low.astype(str) + "-" + (low + width - 1).astype(str)
    return text.where(age.notna(), other=pd.NA)


def _zip_prefix(values: pd.Series, digits: int) -> pd.Series:
    text = values.astype("string").str.strip()
    return (text.str.slice(0, digits) + "*").where(values.notna(), other=pd.NA)


def generalize_users(users: pd.DataFrame, age_band: int = 10, zip_digits: int = 3,
                     age_column: str = "age", zip_column: str = "zip") -> pd.DataFrame:
    """A copy of ``users`` with ages in ``age_band``-year bands (``"20-29"``) and zip codes
    cut to their first ``zip_digits`` characters (``"021*"``); absent columns are skipped."""
    if age_band < 1 or zip_digits < 0:
        raise DataError(f"generalize_users: age_band must be ≥ 1 and zip_digits ≥ 0; got "
                        f"{age_band} and {zip_digits}")
    out = users.copy()
    if age_column in out.columns:
        out[age_column] = _age_bands(out[age_column], age_band, age_column)
    if zip_column in out.columns:
        out[zip_column] = _zip_prefix(out[zip_column], zip_digits)
    return out


@dataclass(frozen=True)
class AnonymityReport:
    """k (smallest group size), l (fewest distinct sensitive values in a group, or None),
    the number of groups, rows, and rows in groups smaller than ``k_target``."""

    quasi_identifiers: tuple[str, ...]
    sensitive: str | None
    k: int
    l_diversity: int | None
    n_groups: int
    n_rows: int
    k_target: int
    rows_below_target: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"quasi_identifiers": list(self.quasi_identifiers), "sensitive": self.sensitive,
                "k": self.k, "l": self.l_diversity, "groups": self.n_groups,
                "rows": self.n_rows, "k_target": self.k_target,
                "rows_below_target": self.rows_below_target}


def anonymity_report(users: pd.DataFrame, quasi_identifiers: Sequence[str],
                     sensitive: str | None = None, k_target: int = 5) -> AnonymityReport:
    """k-anonymity of ``users`` over ``quasi_identifiers`` and l-diversity of ``sensitive``.

    Missing values form their own group value (a blank age is as identifying as any).
    """
    qi = list(quasi_identifiers)
    missing = [c for c in [*qi, *([sensitive] if sensitive else [])] if c not in users.columns]
    if missing:
        raise DataError(f"user table: no column(s) {', '.join(missing)}; it has "
                        f"{', '.join(map(str, users.columns))}")
    if not qi or users.empty:
        raise DataError("anonymity_report: need at least one quasi-identifier and one row")
    keys = users[qi].astype("string").fillna("<missing>")
    groups = keys.groupby(qi, sort=False, dropna=False)
    sizes = groups.size()
    l_value = None
    if sensitive:
        sens = users[sensitive].astype("string").fillna("<missing>")
        l_value = int(sens.groupby([keys[c] for c in qi], sort=False).nunique().min())
    return AnonymityReport(
        quasi_identifiers=tuple(qi), sensitive=sensitive, k=int(sizes.min()),
        l_diversity=l_value, n_groups=len(sizes), n_rows=len(users), k_target=k_target,
        rows_below_target=int(sizes[sizes < k_target].sum()),
    )

"""Validate and clean an interactions frame: clear errors, explicit duplicate policy, a report.

Every reader funnels its raw frame through :func:`clean_interactions`. Nothing is dropped
silently: a bad row is a :class:`~trustrec.errors.DataError` naming the file, line and
field; duplicate ``(user, item)`` pairs are an error unless a merge policy is chosen, and
the :class:`CleaningReport` says how many rows were merged and how.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from trustrec.errors import ConfigError, DataError

Duplicates = Literal["error", "last", "mean"]
DUPLICATE_POLICIES: tuple[str, ...] = ("error", "last", "mean")
KEYS = ["user_id", "item_id"]

_POLICY_TEXT = {
    "last": "the latest timestamp wins (file order breaks ties; file order without timestamps)",
    "mean": "ratings averaged, latest timestamp kept",
}


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning did to one source: rows read and kept, duplicates merged, columns used."""

    source: str
    rows_read: int
    rows_kept: int
    duplicate_rows: int = 0
    duplicate_pairs: int = 0
    duplicate_policy: str = "error"
    implicit: bool = False
    timestamps: bool = False
    rating_scale: tuple[float, float] | None = None
    columns: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (``columns`` as a mapping our field → file column)."""
        out = asdict(self)
        out["columns"] = dict(self.columns)
        out["notes"] = list(self.notes)
        out["rating_scale"] = None if self.rating_scale is None else list(self.rating_scale)
        return out

    def lines(self) -> list[str]:
        """A short human summary, one line per fact."""
        out = [f"{self.source}: read {self.rows_read:,} rows, kept {self.rows_kept:,}"]
        if self.columns:
            out.append("columns: " + ", ".join(f"{ours} ← {theirs!r}"
                                                for ours, theirs in self.columns))
        if self.duplicate_rows:
            out.append(f"duplicates: {self.duplicate_rows:,} repeated rows of "
                       f"{self.duplicate_pairs:,} (user, item) pairs merged by policy "
                       f"'{self.duplicate_policy}' ({_POLICY_TEXT[self.duplicate_policy]})")
        if self.implicit:
            out.append("no rating column: implicit feedback, every value is 1")
        if self.rating_scale is not None:
            lo, hi = self.rating_scale
            out.append(f"ratings checked against the scale {lo:g}–{hi:g}")
        if not self.timestamps:
            out.append("no timestamps")
        out.extend(self.notes)
        return out


# how to merge duplicates, for the library and the command line alike
DUPLICATES_HINT = ("Merge them with duplicates='last' or 'mean' (command line: "
                   "--duplicates last or --duplicates mean).")


def combine_reports(reports: Sequence[CleaningReport], source: str) -> CleaningReport:
    """One report for several cleaned parts of one data set (e.g. several Netflix files)."""
    if not reports:
        raise DataError(f"{source}: nothing was read")
    first = reports[0]
    notes = tuple(dict.fromkeys(n for r in reports for n in r.notes))
    return CleaningReport(
        source=source,
        rows_read=sum(r.rows_read for r in reports),
        rows_kept=sum(r.rows_kept for r in reports),
        duplicate_rows=sum(r.duplicate_rows for r in reports),
        duplicate_pairs=sum(r.duplicate_pairs for r in reports),
        duplicate_policy=first.duplicate_policy,
        implicit=first.implicit,
        timestamps=all(r.timestamps for r in reports),
        rating_scale=first.rating_scale,
        columns=first.columns,
        notes=notes,
    )


def check_policy(duplicates: str) -> None:
    """Raise :class:`ConfigError` unless ``duplicates`` is a known policy."""
    if duplicates not in DUPLICATE_POLICIES:
        raise ConfigError(f"duplicates={duplicates!r}: expected one of "
                          f"{', '.join(DUPLICATE_POLICIES)}")


def row_error(source: str, unit: str, number: int, field: str, problem: str) -> DataError:
    """The one format of a row-level error: ``file, line N, field 'F': problem``."""
    return DataError(f"{source}, {unit} {number}, field {field}: {problem}")


@dataclass(frozen=True)
class _Locator:
    """Turns row positions into 'file, line N, field F' for error messages."""

    source: str
    unit: str
    numbers: np.ndarray

    def error(self, position: int, field: str, problem: str) -> DataError:
        return row_error(self.source, self.unit, int(self.numbers[position]), field, problem)


def clean_interactions(
    frame: pd.DataFrame,
    *,
    source: str,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
    duplicates: Duplicates = "error",
    rating_scale: tuple[float, float] | None = None,
    line_offset: int = 2,
    unit: str = "line",
    lines: np.ndarray | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Check a raw interactions frame and return it clean, with a :class:`CleaningReport`.

    The result has columns ``user_id, item_id[, rating][, timestamp]`` (ratings float64,
    timestamps int64 seconds). IDs keep their type: strings stay strings (surrounding
    whitespace removed), integer IDs stay integers. Row ``i`` of ``frame`` is reported as
    ``unit`` number ``line_offset + i`` (a CSV's header is line 1), or ``lines[i]`` when
    given. Pass ``rating_col=None`` for implicit data and ``timestamp_col=None`` without
    timestamps; a column that is named but absent is an error.

    ``duplicates`` decides what happens to repeated ``(user, item)`` pairs: ``"error"``
    names the lines of the first repeated pair; ``"last"`` keeps the row with the latest
    timestamp (ties, or no timestamps: the last one in file order); ``"mean"`` averages the
    ratings and keeps the latest timestamp. Rows keep their file order.
    """
    check_policy(duplicates)
    if rating_scale is not None and not rating_scale[0] < rating_scale[1]:
        raise ConfigError(f"rating_scale={rating_scale!r}: expected (low, high) with low < high")
    wanted = {"user_id": user_col, "item_id": item_col, "rating": rating_col,
              "timestamp": timestamp_col}
    wanted = {ours: theirs for ours, theirs in wanted.items() if theirs is not None}
    missing = [theirs for theirs in wanted.values() if theirs not in frame.columns]
    if missing:
        found = ", ".join(map(repr, map(str, frame.columns))) or "none"
        raise DataError(f"{source}: missing column(s) {', '.join(map(repr, missing))}; "
                        f"found columns: {found}")
    n = len(frame)
    if n == 0:
        raise DataError(f"{source}: no interactions (the file is empty or has only a header)")
    numbers = np.arange(line_offset, line_offset + n) if lines is None else np.asarray(lines)
    loc = _Locator(source, unit, numbers)

    def label(ours: str) -> str:
        theirs = wanted[ours]
        return repr(theirs) if theirs == ours else f"{theirs!r} ({ours})"

    out: dict[str, Any] = {ours: _ids(frame[wanted[ours]], label(ours), loc) for ours in KEYS}
    if "rating" in wanted:
        rating = _numbers(frame[wanted["rating"]], label("rating"), loc, "rating")
        if rating_scale is not None:
            _check_scale(rating, rating_scale, label("rating"), loc)
        out["rating"] = rating
    if "timestamp" in wanted:
        stamps = _timestamps(frame[wanted["timestamp"]], label("timestamp"), loc)
        out["timestamp"] = np.floor(stamps).astype(np.int64)
    clean = pd.DataFrame(out)
    clean, dup_rows, dup_pairs = _merge_duplicates(clean, duplicates, loc)
    report = CleaningReport(
        source=source, rows_read=n, rows_kept=len(clean), duplicate_rows=dup_rows,
        duplicate_pairs=dup_pairs, duplicate_policy=duplicates,
        implicit="rating" not in wanted, timestamps="timestamp" in wanted,
        rating_scale=None if rating_scale is None else (float(rating_scale[0]),
                                                        float(rating_scale[1])),
    )
    return clean, report


def clean_ids(
    column: pd.Series,
    *,
    source: str,
    field: str,
    line_offset: int = 2,
    unit: str = "line",
    unique: bool = False,
) -> pd.Series:
    """Check one ID column of a side table or ID list (no missing or empty IDs, optionally
    no repeats); returns it as in :func:`clean_interactions` (str stripped, or int64)."""
    loc = _Locator(source, unit, np.arange(line_offset, line_offset + len(column)))
    ids = _ids(column, repr(field), loc)
    if unique:
        repeat = ids.duplicated(keep="first").to_numpy()
        if repeat.any():
            pos = int(np.argmax(repeat))
            same = (ids == ids.iloc[pos]).to_numpy()
            where = ", ".join(str(int(x)) for x in loc.numbers[same][:5])
            raise DataError(f"{source}: duplicate {field} {ids.iloc[pos]!r} on {unit}s {where}")
    return ids


def _ids(col: pd.Series, field: str, loc: _Locator) -> pd.Series:
    """Integer IDs stay integers (float columns of whole numbers too); the rest become str."""
    missing = col.isna().to_numpy()
    if missing.any():
        raise loc.error(int(np.argmax(missing)), field, "missing ID")
    if pd.api.types.is_bool_dtype(col):
        raise loc.error(0, field, "expected string or integer IDs, got booleans")
    if pd.api.types.is_integer_dtype(col):
        return pd.Series(col.to_numpy(np.int64), copy=False)
    if pd.api.types.is_float_dtype(col):
        values = col.to_numpy(np.float64)
        fractional = values != np.floor(values)
        if fractional.any():
            pos = int(np.argmax(fractional))
            raise loc.error(pos, field, f"expected string or integer IDs, got {values[pos]!r}")
        return pd.Series(values.astype(np.int64), copy=False)
    text = col.astype(str).str.strip().reset_index(drop=True)
    empty = (text == "").to_numpy()
    if empty.any():
        raise loc.error(int(np.argmax(empty)), field, "empty ID")
    return text


def _numbers(col: pd.Series, field: str, loc: _Locator, what: str) -> np.ndarray:
    """Finite float64 values, or an error naming the first missing / non-numeric one."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(col.astype(str).str.strip(), errors="coerce")
        values = values.to_numpy(np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        pos = int(np.argmax(bad))
        raw = col.iloc[pos]
        if pd.isna(raw) or str(raw).strip() == "":
            raise loc.error(pos, field, f"missing {what}")
        raise loc.error(pos, field, f"expected a number for {what}, got {raw!r}")
    return values


def _timestamps(col: pd.Series, field: str, loc: _Locator) -> np.ndarray:
    """Unix seconds (float64) from numbers, or from ISO-8601 text such as
    ``2024-05-01T12:00:00Z`` or a datetime column (times without a zone are UTC)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        col = col.dt.tz_localize("UTC") if col.dt.tz is None else col
        seconds = (col - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return _numbers(seconds, field, loc, "timestamp")
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return _numbers(col, field, loc, "timestamp (unix seconds)")
    text = col.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan).copy()
    dated = ~np.isfinite(values) & (text != "").to_numpy() & col.notna().to_numpy()
    if dated.any():
        parsed = pd.to_datetime(text[dated], format="ISO8601", utc=True, errors="coerce")
        values[dated] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(
            np.float64, na_value=np.nan)
    return _numbers(pd.Series(values, index=col.index).where(np.isfinite(values), col), field,
                    loc, "timestamp (unix seconds or ISO-8601 date-time)")


def _check_scale(rating: np.ndarray, scale: tuple[float, float], field: str,
                 loc: _Locator) -> None:
    lo, hi = scale
    outside = (rating < lo) | (rating > hi)
    if outside.any():
        pos = int(np.argmax(outside))
        raise loc.error(pos, field, f"rating {rating[pos]:g} is outside the declared scale "
                                    f"{lo:g}–{hi:g} ({int(outside.sum()):,} such rows)")


def _pair_codes(clean: pd.DataFrame) -> tuple[np.ndarray, int]:
    """A code per ``(user, item)`` pair, numbered in order of first appearance, and how many
    distinct pairs there are (integers are hashed, not strings)."""
    users, _ = pd.factorize(clean["user_id"])
    items, item_ids = pd.factorize(clean["item_id"])
    codes, pairs = pd.factorize(users.astype(np.int64) * max(1, len(item_ids)) + items)
    return codes, len(pairs)


def _merge_duplicates(clean: pd.DataFrame, policy: str,
                      loc: _Locator) -> tuple[pd.DataFrame, int, int]:
    """Apply the duplicate policy; returns the frame, repeated rows and repeated pairs."""
    codes, n_pairs = _pair_codes(clean)
    n_repeat = len(codes) - n_pairs
    if n_repeat == 0:
        return clean, 0, 0
    # codes count up in order of first appearance: a row is new iff it beats all before it
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
    if policy == "error":
        pos = int(np.argmax(~first))
        user, item = clean["user_id"].iloc[pos], clean["item_id"].iloc[pos]
        where = ", ".join(str(int(x)) for x in loc.numbers[codes == codes[pos]][:5])
        raise DataError(f"{loc.source}: duplicate (user_id, item_id) pair ({user!r}, {item!r}) "
                        f"on {loc.unit}s {where}; {n_repeat:,} repeated row(s) in total. "
                        f"{DUPLICATES_HINT}")
    repeated_pairs = int((np.bincount(codes) > 1).sum())
    if policy == "last":
        order = np.arange(len(codes))
        if "timestamp" in clean.columns:
            order = np.argsort(clean["timestamp"].to_numpy(), kind="stable")
        latest = ~pd.Series(codes[order]).duplicated(keep="last").to_numpy()
        keep = np.sort(order[latest])
        return clean.iloc[keep].reset_index(drop=True), n_repeat, repeated_pairs
    # "mean": one row per pair at its first position, ratings averaged, latest timestamp
    merged = clean.loc[first].reset_index(drop=True)
    if "rating" in clean.columns:
        sums = np.bincount(codes, weights=clean["rating"].to_numpy(), minlength=n_pairs)
        merged["rating"] = sums / np.bincount(codes, minlength=n_pairs)
    if "timestamp" in clean.columns:
        merged["timestamp"] = clean["timestamp"].groupby(codes).max().to_numpy()
    return merged, n_repeat, repeated_pairs

"""Amazon reviews (JSON Lines, plain or ``.gz``): the classic 2014/2018 and the 2023 fields.

Classic: ``reviewerID, asin, overall, unixReviewTime`` (seconds). 2023: ``user_id,
parent_asin`` (else ``asin``), ``rating, timestamp`` (milliseconds, converted to seconds).
An optional metadata file (``asin``/``parent_asin``, ``title``, ``categories``/``category``,
``description``) becomes the item table.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from trustrec.data.tables import (
    LoadResult,
    build_result,
    data_name,
    items_frame,
    require_file,
)
from trustrec.data.validate import Duplicates, clean_ids, clean_interactions
from trustrec.errors import DataError

CHUNK_LINES = 500_000
# (our field, candidate JSON fields in order of preference)
REVIEW_FIELDS = (
    ("user_id", ("user_id", "reviewerID")),
    ("item_id", ("parent_asin", "asin")),
    ("rating", ("rating", "overall")),
    ("timestamp", ("timestamp", "unixReviewTime")),
)
MILLISECOND_FIELDS = ("timestamp",)


def read_json_lines(path: Path, fields: Sequence[str]) -> pd.DataFrame:
    """The given fields (those present) of a JSON Lines file, values as written (no type
    guessing: ``"0000013714"`` stays a string). A malformed line is a DataError naming it."""
    require_file(path)
    chunks = []
    try:
        reader = pd.read_json(path, lines=True, dtype=False, chunksize=CHUNK_LINES,
                              compression="infer", encoding="utf-8")
        with reader:
            for chunk in reader:
                chunks.append(chunk[[f for f in fields if f in chunk.columns]])
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise _locate_error(path, exc) from exc
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    return frame.reindex(columns=[f for f in fields if f in frame.columns])


def _locate_error(path: Path, exc: Exception) -> DataError:
    """Find the first malformed line (only on the error path, so a plain loop is fine)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as bad:
                    return DataError(f"{path}, line {number}: malformed JSON ({bad.msg} at "
                                     f"column {bad.colno})")
                if not isinstance(record, dict):
                    return DataError(f"{path}, line {number}: expected a JSON object, got "
                                     f"{type(record).__name__}")
    except (UnicodeDecodeError, EOFError, OSError) as io_error:
        return DataError(f"{path}: cannot read ({io_error})")
    return DataError(f"{path}: cannot read as JSON Lines ({exc})")


def _pick(frame: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in frame.columns), None)


def load_amazon_reviews(
    path: str | Path,
    *,
    meta_path: str | Path | None = None,
    duplicates: Duplicates = "last",
    rating_scale: tuple[float, float] | None = (1.0, 5.0),
) -> LoadResult:
    """Load Amazon reviews (one JSON object per line, plain or gzip) into a dataset.

    A user reviewing an item twice is common in these dumps, hence ``duplicates="last"``
    (the latest review wins). ``meta_path``: a metadata JSON Lines file for the item table.
    Review texts are not kept (they describe one user's view, not the item).
    """
    path = Path(path)
    wanted = [f for _, names in REVIEW_FIELDS for f in names]
    raw = read_json_lines(path, wanted)
    mapping = {ours: _pick(raw, names) for ours, names in REVIEW_FIELDS}
    for ours in ("user_id", "item_id"):
        if mapping[ours] is None:
            names = dict(REVIEW_FIELDS)[ours]
            found = ", ".join(map(repr, raw.columns)) or "none"
            raise DataError(f"{path}: no {ours} field (expected {' or '.join(names)}); "
                            f"found fields: {found}")
    clean, report = clean_interactions(
        raw, source=str(path), user_col=mapping["user_id"], item_col=mapping["item_id"],
        rating_col=mapping["rating"], timestamp_col=mapping["timestamp"],
        duplicates=duplicates, rating_scale=rating_scale, line_offset=1,
    )
    notes: list[str] = []
    if mapping["timestamp"] in MILLISECOND_FIELDS:
        clean["timestamp"] = clean["timestamp"] // 1000
        notes.append("timestamps in milliseconds converted to seconds")
    items = None
    if meta_path is not None:
        items = read_amazon_meta(Path(meta_path))
        notes.append(f"item table: {len(items):,} items from {meta_path}")
    columns = tuple((ours, theirs) for ours, theirs in mapping.items() if theirs is not None)
    report = replace(report, columns=columns, notes=tuple(notes))
    return build_result(clean, report, name=data_name(path), items=items)


def read_amazon_meta(path: Path) -> pd.DataFrame:
    """Item table from Amazon metadata: ``item_id, title, genres`` (categories joined by
    ``|``), ``text``; an item listed twice keeps its first record."""
    raw = read_json_lines(path, ["parent_asin", "asin", "title", "categories", "category",
                                 "main_category", "description"])
    id_col = _pick(raw, ("parent_asin", "asin"))
    if id_col is None:
        raise DataError(f"{path}: no item ID field (expected parent_asin or asin); found "
                        f"fields: {', '.join(map(repr, raw.columns)) or 'none'}")
    ids = clean_ids(raw[id_col], source=str(path), field=id_col, line_offset=1)
    first = ~ids.duplicated(keep="first").to_numpy()
    raw, ids = raw.loc[first].reset_index(drop=True), ids.loc[first].reset_index(drop=True)
    category_col = _pick(raw, ("categories", "category", "main_category"))
    title_col = _pick(raw, ("title",))
    return items_frame(
        ids,
        raw[title_col] if title_col else None,
        _join_nested(raw[category_col], "|") if category_col else None,
        description=_join_nested(raw["description"], " ") if "description" in raw else None,
    )


def _join_nested(values: pd.Series, sep: str) -> pd.Series:
    """Join (possibly nested) lists of strings per row; plain strings pass through."""
    flat = values.explode().explode()
    flat = flat[flat.notna()].astype(str).str.strip()
    flat = flat[flat != ""]
    joined = flat.groupby(level=0, sort=False).agg(sep.join)
    return joined.reindex(values.index, fill_value="").astype(str)


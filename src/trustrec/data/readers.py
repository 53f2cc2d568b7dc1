"""Readers: interaction files (CSV/TSV/Parquet), side tables, ID lists, and ``load``.

IDs are read as strings exactly as written (``"007"`` stays ``"007"``) so that they
round-trip through training, saving and recommending; Parquet keeps integer IDs as
integers. Columns are found by name: ``user_id, item_id, rating, timestamp``, a mapping
given by the caller, or well-known aliases (``userId``, ``movieId``, ``asin``, …). The
low-level helpers shared with the format modules live in :mod:`trustrec.data.tables`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trustrec.data.split import Split
from trustrec.data.tables import (
    INTERACTION_ROLES,
    ITEM_ALIASES,
    ITEM_ROLES,
    JSON_SUFFIXES,
    PARQUET_SUFFIXES,
    TEXT_SUFFIXES,
    USER_ALIASES,
    LoadResult,
    build_result,
    column_key,
    data_name,
    file_suffix,
    first_line,
    fold_text,
    items_frame,
    read_clean,
    read_delimited,
    read_lines,
    read_table,
    require_file,
    resolve_columns,
    sniff_sep,
    split_fields,
)
from trustrec.data.validate import Duplicates, clean_ids
from trustrec.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: The readers, and the low-level helpers of :mod:`trustrec.data.tables` that code outside
#: ``data`` has imported from here (kept as re-exports).
__all__ = [
    "INTERACTION_ROLES", "LoadResult", "build_result", "data_name", "fold_text", "items_frame",
    "load", "load_train_test", "read_clean", "read_delimited", "read_id_list",
    "read_interactions", "read_items", "read_lines", "read_pairs", "read_users",
    "require_file", "resolve_columns", "sniff_sep", "split_fields",
]


# ---------------------------------------------------------------------- interactions
def read_interactions(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    duplicates: Duplicates = "error",
    rating_scale: tuple[float, float] | None = None,
    implicit: bool = False,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> LoadResult:
    """Read interactions from CSV/TSV/text (``sep`` sniffed when None) or Parquet.

    Columns default to ``user_id, item_id, rating, timestamp``; ``columns`` maps our names
    to the file's (``{"user_id": "userId"}``), and well-known aliases are recognised
    otherwise (the mapping used is logged and kept in the report). ``rating`` and
    ``timestamp`` are optional: without ratings the data is implicit (value 1). With
    ``implicit=True`` a rating column is read as interaction weights. A headerless file of
    3–4 columns is read in the order ``user_id, item_id, rating, timestamp``.
    """
    path = Path(path)
    clean, report = read_clean(path, columns=columns, sep=sep, duplicates=duplicates,
                               rating_scale=rating_scale)
    return build_result(clean, report, name=data_name(path), implicit=implicit, items=items,
                        users=users)


def load_train_test(
    train: str | Path,
    test: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    duplicates: Duplicates = "error",
    rating_scale: tuple[float, float] | None = None,
    implicit: bool = False,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> Split:
    """Read a train file and a test file into one :class:`Split` over a shared index space.

    Each file is cleaned on its own (errors name the right file); a pair present in both
    is kept in both and logged as a warning, since it leaks the answer into training.
    """
    train, test = Path(train), Path(test)
    parts = [read_clean(p, columns=columns, sep=sep, duplicates=duplicates,
                        rating_scale=rating_scale) for p in (train, test)]
    frames = [frame for frame, _ in parts]
    shared = [c for c in frames[0].columns if c in frames[1].columns]
    if len(shared) < max(len(f.columns) for f in frames):
        log.warning("%s / %s: columns differ; using only %s", train, test, shared)
    frames = [f[shared] for f in frames]
    overlap = len(frames[0].merge(frames[1][["user_id", "item_id"]], on=["user_id", "item_id"]))
    if overlap:
        log.warning("%s / %s: %d (user, item) pair(s) appear in both train and test",
                    train, test, overlap)
    for _, report in parts:
        for line in report.lines():
            log.info("%s", line)
    clean = pd.concat(frames, ignore_index=True)
    report = replace(parts[0][1], implicit="rating" not in shared,
                     timestamps="timestamp" in shared)
    dataset = build_result(clean, report, name=data_name(train), implicit=implicit, items=items,
                           users=users).dataset
    in_train = np.arange(len(clean)) < len(frames[0])
    return Split(train=dataset.filter(in_train, name=data_name(train)),
                 test=dataset.filter(~in_train, name=data_name(test)),
                 name=f"{data_name(train)}/{data_name(test)}")


def read_items(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read an item table (CSV/TSV/Parquet, or a MovieLens folder or item file such as
    ``u.item``) into ``item_id, title, genres, text, …``.

    Recognises ``movieId``/``title``/``genres`` (``|``-separated, MovieLens style) and
    other aliases; ``text`` folds title, genres, tags and a description/text column when
    present. Every other column is kept as an attribute. Item IDs must be unique.
    """
    path = Path(path)
    from trustrec.data.movielens import ITEM_FILES, read_movielens_items  # (it imports us)

    # movies.csv has a header: the generic reader below handles it
    if columns is None and (path.is_dir() or path.name in ITEM_FILES.keys() - {"movies.csv"}):
        return read_movielens_items(path)
    table = read_table(path, columns=columns, roles=ITEM_ROLES, required=("item_id",))
    frame, mapping = table.frame, table.mapping
    ids = clean_ids(frame[mapping["item_id"]], source=str(path), field=mapping["item_id"],
                    line_offset=table.line_offset, unit=table.unit, unique=True)

    def role(name: str) -> pd.Series | None:
        return frame[mapping[name]].reset_index(drop=True) if name in mapping else None

    extra = frame.drop(columns=list(mapping.values())).reset_index(drop=True)
    return items_frame(ids, role("title"), role("genres"), tags=role("tags"),
                       description=role("description"), extra=extra)


def read_users(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a user table into ``user_id`` plus its attribute columns (unique user IDs)."""
    path = Path(path)
    table = read_table(path, columns=columns, roles={"user_id": USER_ALIASES},
                        required=("user_id",))
    col = table.mapping["user_id"]
    ids = clean_ids(table.frame[col], source=str(path), field=col,
                    line_offset=table.line_offset, unit=table.unit, unique=True)
    rest = table.frame.drop(columns=[col]).reset_index(drop=True)
    return pd.concat([ids.rename("user_id"), rest], axis=1)


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Read ``user_id, item_id`` pairs (aliases recognised; IDs as strings in text files).

    Other columns are kept after the two ID columns; repeated pairs are allowed.
    """
    path = Path(path)
    roles = {"user_id": USER_ALIASES, "item_id": ITEM_ALIASES}
    table = read_table(path, columns=None, roles=roles, required=("user_id", "item_id"))
    ids = {ours: clean_ids(table.frame[theirs], source=str(path), field=theirs,
                           line_offset=table.line_offset, unit=table.unit)
           for ours, theirs in table.mapping.items()}
    if table.frame.empty:
        raise DataError(f"{path}: no pairs (the file has only a header)")
    rest = table.frame.drop(columns=list(table.mapping.values())).reset_index(drop=True)
    return pd.concat([pd.DataFrame(ids), rest], axis=1)


def read_id_list(path: str | Path, column: str | None = None) -> np.ndarray:
    """IDs as a string array: one ID per line, or the ``column`` (default: the one
    ``user_id``/``item_id`` column, aliases included) of a CSV/TSV file."""
    path = Path(path)
    require_file(path)
    line = first_line(path)
    sep = sniff_sep(path, line)
    fields = split_fields(line, sep)
    known = {column_key(a): f for f in fields
             for a in (*USER_ALIASES, *ITEM_ALIASES, "user_id", "item_id")
             if column_key(a) == column_key(f)}
    if column is None and len(set(known.values())) > 1:
        raise DataError(f"{path}: several ID columns ({', '.join(map(repr, known.values()))}); "
                        "keep one ID column in the file, or in Python pass column=… to choose")
    if column is not None or known:
        col = column or next(iter(known.values()))
        if col not in fields:
            raise DataError(f"{path}: no column {col!r}; found columns: "
                            f"{', '.join(map(repr, fields))}")
        frame = read_delimited(path, sep=sep, header=True, str_columns=[col])
        ids = clean_ids(frame[col], source=str(path), field=col)
    else:
        lines = read_lines(path).str.strip()
        ids = lines[lines != ""]
    if ids.empty:
        raise DataError(f"{path}: no IDs")
    return ids.to_numpy(dtype=str)


# ---------------------------------------------------------------------- auto-detection
def _pick_loader(path: Path) -> Callable[..., LoadResult]:
    from trustrec.data import amazon, movielens, netflix

    if path.is_dir():
        if movielens.detect_variant(path, strict=False) is not None:
            return movielens.load_movielens
        if netflix.netflix_files(path):
            return netflix.load_netflix
        found = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
        raise DataError(f"{path}: not a known data folder: expected u.data (MovieLens 100K), "
                        "ratings.dat (1M), ratings.csv (latest/25M) or combined_data_*.txt "
                        f"(Netflix); found {found}")
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if netflix.is_netflix_file(path):
        return netflix.load_netflix
    suffix = file_suffix(path)
    if suffix in JSON_SUFFIXES:
        return amazon.load_amazon_reviews
    if suffix in TEXT_SUFFIXES or suffix in PARQUET_SUFFIXES:
        return read_interactions
    raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected "
                    f"{', '.join(TEXT_SUFFIXES + PARQUET_SUFFIXES + JSON_SUFFIXES)} "
                    "or a MovieLens / Netflix folder")


def load(path: str | Path, **options: Any) -> LoadResult:
    """Load interactions from a file or folder, detecting the format.

    MovieLens folders (ml-100k, ml-1m, ml-latest(-small), ml-25m), Netflix
    ``combined_data_*.txt`` files or folders, Amazon reviews ``.json(l)(.gz)``, and
    CSV/TSV/TXT/DAT/Parquet interaction files. ``options`` go to the chosen loader; one it
    does not take is a :class:`ConfigError`.
    """
    path = Path(path)
    loader = _pick_loader(path)
    params = list(inspect.signature(loader).parameters)[1:]
    unknown = [k for k in options if k not in params]
    if unknown:
        raise ConfigError(f"{path}: option(s) {', '.join(unknown)} do not apply to "
                          f"{loader.__name__}; it takes {', '.join(params)}")
    return loader(path, **options)

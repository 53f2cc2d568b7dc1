"""Low-level reading of tabular files, shared by the generic reader and the format modules
(MovieLens, Netflix, Amazon): encodings, separators, column roles and aliases, cleaning a
table into interactions, building a :class:`LoadResult`, and item side tables.

IDs are read as strings exactly as written (``"007"`` stays ``"007"``); Parquet keeps
integer IDs as integers. This module imports no format module, so each of them and
:mod:`trustrec.data.readers` (which picks among them) depend on it, never on each other.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.validate import CleaningReport, Duplicates, clean_interactions
from trustrec.errors import ConfigError, DataError

#: Under the readers' name, where callers have always configured these messages.
log = logging.getLogger("trustrec.data.readers")

INTERACTION_FIELDS = ("user_id", "item_id", "rating", "timestamp")
USER_ALIASES = ("userId", "user", "userID", "reviewerID", "customer_id", "customer", "uid",
                "visitor_id")
ITEM_ALIASES = ("movieId", "itemId", "item", "asin", "parent_asin", "productId", "product",
                "movie", "iid", "bookId", "isbn", "trackId")
INTERACTION_ROLES: dict[str, tuple[str, ...]] = {
    "user_id": USER_ALIASES,
    "item_id": ITEM_ALIASES,
    "rating": ("score", "overall", "value", "stars"),
    "timestamp": ("time", "ts", "unixReviewTime"),
}
ITEM_ROLES: dict[str, tuple[str, ...]] = {
    "item_id": ITEM_ALIASES,
    "title": ("name", "product_title"),
    "genres": ("genre", "categories", "category"),
    "tags": ("keywords",),
    "description": ("text", "overview", "plot", "summary"),
}
TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
# UTF-8 that drops a leading byte-order mark (Excel writes one); plain UTF-8 reads the same
TEXT_ENCODING = "utf-8-sig"


@dataclass(frozen=True)
class LoadResult:
    """A loaded :class:`Dataset` and the :class:`CleaningReport` of how it was read."""

    dataset: Dataset
    report: CleaningReport


# ---------------------------------------------------------------------- low-level text reading
def file_suffix(path: Path) -> str:
    """The format suffix, looking through a trailing ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def require_file(path: Path) -> None:
    """Raise :class:`DataError` naming ``path`` unless it is an existing file."""
    if not path.is_file():
        what = "is a directory, expected a file" if path.is_dir() else "no such file"
        raise DataError(f"{path}: {what}")


def first_line(path: Path, encoding: str = TEXT_ENCODING) -> str:
    """The first line of a (possibly gzipped) text file, without the newline."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding=encoding, newline="") as handle:
            return handle.readline().rstrip("\r\n")
    except (UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: cannot read as {encoding} text ({exc})") from exc


def sniff_sep(path: Path, line: str) -> str:
    """The field separator: tab for ``.tsv``, else guessed from the first line."""
    if file_suffix(path) == ".tsv":
        return "\t"
    for sep in ("\t", "::", ",", ";", "|"):
        if sep in line:
            return sep
    return r"\s+" if len(line.split()) > 1 else ","


def split_fields(line: str, sep: str) -> list[str]:
    """Split one header line the way the reader will (quotes removed, spaces stripped)."""
    if sep == r"\s+":
        return line.split()
    if len(sep) > 1:
        return [f.strip() for f in line.split(sep)]
    return [f.strip() for f in next(csv.reader([line], delimiter=sep))]


def read_delimited(
    path: Path,
    *,
    sep: str,
    header: bool,
    names: Sequence[str] | None = None,
    str_columns: Sequence[str] = (),
    encoding: str = TEXT_ENCODING,
    quoted: bool = True,
) -> pd.DataFrame:
    """Read a delimited text file; ``str_columns`` are kept as written (no number parsing).

    Only empty fields are missing values (``"NA"`` or ``"null"`` are kept as text). A ``::``
    separator (MovieLens 1M) is split without the slow Python CSV engine.
    """
    if sep == "::":
        return _read_double_colon(path, header=header, names=names, encoding=encoding)
    try:
        return pd.read_csv(
            path, sep=sep, header=0 if header else None, names=names,
            dtype={c: str for c in str_columns}, keep_default_na=False, na_values=[""],
            encoding=encoding, quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
            skipinitialspace=sep != "\t", compression="infer",
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: empty file") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed delimited text: {str(exc).strip()}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid {encoding} text ({exc.reason} at byte "
                        f"{exc.start})") from exc


def read_lines(path: Path, encoding: str = TEXT_ENCODING) -> pd.Series:
    """All lines of a text file as a string Series (index = line number − 1)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding=encoding, newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid {encoding} text ({exc.reason} at byte "
                        f"{exc.start})") from exc
    return pd.Series(text.splitlines(), dtype=str)


def _read_double_colon(path: Path, *, header: bool, names: Sequence[str] | None,
                       encoding: str) -> pd.DataFrame:
    lines = read_lines(path, encoding)
    lines = lines[lines.str.strip() != ""]
    if header:
        if lines.empty:
            raise DataError(f"{path}: empty file")
        names = [f.strip() for f in lines.iloc[0].split("::")]
        lines = lines.iloc[1:]
    if not names:
        raise DataError(f"{path}: no column names for a '::' file")
    parts = lines.str.split("::", n=len(names) - 1, expand=True, regex=False)
    parts = parts.reindex(columns=range(len(names)))
    parts.columns = list(names)
    return parts.reset_index(drop=True)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: cannot read Parquet ({exc})") from exc


# ---------------------------------------------------------------------- columns
def column_key(name: str) -> str:
    """A column name compared loosely: lower case, without spaces, ``_`` or ``-``."""
    return re.sub(r"[\s_\-]", "", str(name)).lower()


def resolve_columns(
    found: Sequence[Any],
    columns: Mapping[str, str] | None,
    *,
    source: str,
    roles: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
) -> dict[str, str]:
    """Map our field names to the file's columns: ``columns`` first, then known aliases.

    Returns ``{our field: file column}`` for the fields found; a missing required field is a
    :class:`DataError` listing the columns the file has.
    """
    given = dict(columns or {})
    unknown = sorted(set(given) - set(roles))
    if unknown:
        raise ConfigError(f"columns: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"expected some of {', '.join(roles)}")
    found = [str(c) for c in found]
    by_norm: dict[str, str] = {}
    for col in found:
        by_norm.setdefault(column_key(col), col)
    listing = ", ".join(map(repr, found)) or "none"
    mapping: dict[str, str] = {}
    for ours, aliases in roles.items():
        if ours in given:
            if given[ours] not in found:
                raise DataError(f"{source}: column {given[ours]!r} (given for {ours}) not found; "
                                f"found columns: {listing}")
            mapping[ours] = given[ours]
            continue
        hits = [by_norm[column_key(a)] for a in (ours, *aliases) if column_key(a) in by_norm]
        hits = [h for h in hits if h not in mapping.values() and h not in given.values()]
        if hits:
            mapping[ours] = hits[0]
        elif ours in required:
            raise DataError(f"{source}: no {ours} column (expected {ours!r} or one of "
                            f"{', '.join(aliases)}); found columns: {listing}. "
                            f"Name it with columns={{'{ours}': '<column>'}} (command line: "
                            f"--columns {ours}=<column>).")
    return mapping


def _looks_headerless(fields: list[str]) -> bool:
    """A first line of 3–4 fields, none a known column name, the 3rd onwards numbers."""
    if not 3 <= len(fields) <= 4:
        return False
    known = {column_key(a) for ours, aliases in INTERACTION_ROLES.items() for a in (ours, *aliases)}
    if any(column_key(f) in known for f in fields):
        return False
    return bool(pd.to_numeric(pd.Series(fields[2:]), errors="coerce").notna().all())


@dataclass(frozen=True)
class Table:
    """A raw table, how its columns map to ours, and where its first row is in the file."""

    frame: pd.DataFrame
    mapping: dict[str, str]
    line_offset: int
    unit: str
    notes: tuple[str, ...] = ()


def read_table(
    path: Path,
    *,
    columns: Mapping[str, str] | None,
    roles: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    sep: str | None = None,
    headerless_ok: bool = False,
) -> Table:
    """Read a CSV/TSV/Parquet file; ID columns (``required``) are kept as strings in text."""
    require_file(path)
    source = str(path)
    if file_suffix(path) in PARQUET_SUFFIXES:
        frame = _read_parquet(path)
        mapping = resolve_columns(frame.columns, columns, source=source, roles=roles,
                                  required=required)
        return Table(frame, mapping, 1, "row")
    line = first_line(path)
    if not line.strip():
        raise DataError(f"{path}: empty file (or an empty first line where a header belongs)")
    sep = sep or sniff_sep(path, line)
    fields = split_fields(line, sep)
    if headerless_ok and columns is None and _looks_headerless(fields):
        names = list(INTERACTION_FIELDS[: len(fields)])
        frame = read_delimited(path, sep=sep, header=False, names=names,
                               str_columns=required)
        note = f"no header line: columns read in the order {', '.join(names)}"
        return Table(frame, {n: n for n in names}, 1, "line", (note,))
    mapping = resolve_columns(fields, columns, source=source, roles=roles, required=required)
    frame = read_delimited(path, sep=sep, header=True,
                           str_columns=[mapping[r] for r in required])
    return Table(frame, mapping, 2, "line")


# ---------------------------------------------------------------------- interactions
def read_clean(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    sep: str | None = None,
    duplicates: Duplicates = "error",
    rating_scale: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Read and clean an interactions file without building a :class:`Dataset`."""
    path = Path(path)
    table = read_table(path, columns=columns, roles=INTERACTION_ROLES,
                        required=("user_id", "item_id"), sep=sep, headerless_ok=True)
    mapping = table.mapping
    log.info("%s: columns %s", path, mapping)
    clean, report = clean_interactions(
        table.frame, source=str(path), user_col=mapping["user_id"],
        item_col=mapping["item_id"], rating_col=mapping.get("rating"),
        timestamp_col=mapping.get("timestamp"), duplicates=duplicates,
        rating_scale=rating_scale, line_offset=table.line_offset, unit=table.unit,
    )
    return clean, replace(report, columns=tuple(mapping.items()), notes=table.notes)


def build_result(
    clean: pd.DataFrame,
    report: CleaningReport,
    *,
    name: str,
    implicit: bool = False,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> LoadResult:
    """Turn a clean frame into a :class:`LoadResult` (``implicit``: ratings become weights)."""
    dataset = Dataset.from_frame(
        clean, items=items, users=users, explicit=not (implicit or report.implicit),
        rating_scale=None if implicit else report.rating_scale, name=name,
    )
    if implicit and not report.implicit:
        report = replace(report, notes=(*report.notes,
                                        "implicit=True: the rating column is read as weights"))
    return LoadResult(dataset, report)


def data_name(path: Path) -> str:
    """A data set's name from its file name, without suffixes (``ratings.csv.gz`` → ``ratings``)."""
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name.removesuffix(suffix)
    return name or path.name


# ---------------------------------------------------------------------- side tables
def fold_text(
    title: pd.Series,
    genres: pd.Series | None = None,
    *,
    tags: pd.Series | None = None,
    description: pd.Series | None = None,
) -> pd.Series:
    """One text per item: ``"Title. Genres: A, B. Tags: x, y. Description"`` (empty parts
    left out); ``genres`` use ``|`` as separator."""
    def clean(values: pd.Series | None) -> pd.Series:
        if values is None:
            return pd.Series("", index=title.index, dtype=str)
        return values.fillna("").astype(str).str.strip()

    parts = [clean(title), clean(genres).str.replace("|", ", ", regex=False), clean(tags),
             clean(description)]
    labels = ["", "Genres: ", "Tags: ", ""]
    text = parts[0]
    for label, part in zip(labels[1:], parts[1:], strict=True):
        glue = pd.Series(np.where(text == "", label, ". " + label), index=text.index, dtype=str)
        text = text.where(part == "", text + glue + part)
    return text


def items_frame(
    item_id: pd.Series,
    title: pd.Series | None = None,
    genres: pd.Series | None = None,
    *,
    tags: pd.Series | None = None,
    description: pd.Series | None = None,
    extra: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """An item side table ``item_id, title, genres, [tags,] text, …extra columns``."""
    def text_or_empty(values: pd.Series | None) -> pd.Series:
        if values is None:
            return pd.Series("", index=item_id.index, dtype=str)
        return values.fillna("").astype(str).str.strip()

    table = pd.DataFrame({"item_id": item_id, "title": text_or_empty(title),
                          "genres": text_or_empty(genres)})
    if tags is not None:
        table["tags"] = text_or_empty(tags)
    table["text"] = fold_text(table["title"], table["genres"], tags=tags,
                              description=description)
    if extra is not None:
        table = pd.concat([table, extra.drop(columns=[c for c in extra.columns
                                                      if c in table.columns])], axis=1)
    return table.reset_index(drop=True)

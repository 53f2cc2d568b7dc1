"""Readers: interaction files (CSV/TSV/Parquet), side tables, ID lists, and ``load``.

IDs are read as strings exactly as written (``"007"`` stays ``"007"``) so that they
round-trip through training, saving and recommending; Parquet keeps integer IDs as
integers. Columns are found by name: ``user_id, item_id, rating, timestamp``, a mapping
given by the caller, or well-known aliases (``userId``, ``movieId``, ``asin``, …).
"""

from __future__ import annotations

import csv
import gzip
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.split import Split
from trustrec.data.validate import CleaningReport, Duplicates, clean_ids, clean_interactions
from trustrec.errors import ConfigError, DataError

log = logging.getLogger(__name__)

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
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
# UTF-8 that drops a leading byte-order mark (Excel writes one); plain UTF-8 reads the same
TEXT_ENCODING = "utf-8-sig"


@dataclass(frozen=True)
class LoadResult:
    """A loaded :class:`Dataset` and the :class:`CleaningReport` of how it was read."""

    dataset: Dataset
    report: CleaningReport


# ---------------------------------------------------------------------- low-level text reading
def _suffix(path: Path) -> str:
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
    if _suffix(path) == ".tsv":
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
def _norm(name: str) -> str:
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
        by_norm.setdefault(_norm(col), col)
    listing = ", ".join(map(repr, found)) or "none"
    mapping: dict[str, str] = {}
    for ours, aliases in roles.items():
        if ours in given:
            if given[ours] not in found:
                raise DataError(f"{source}: column {given[ours]!r} (given for {ours}) not found; "
                                f"found columns: {listing}")
            mapping[ours] = given[ours]
            continue
        hits = [by_norm[_norm(a)] for a in (ours, *aliases) if _norm(a) in by_norm]
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
    known = {_norm(a) for ours, aliases in INTERACTION_ROLES.items() for a in (ours, *aliases)}
    if any(_norm(f) in known for f in fields):
        return False
    return bool(pd.to_numeric(pd.Series(fields[2:]), errors="coerce").notna().all())


@dataclass(frozen=True)
class _Table:
    """A raw table, how its columns map to ours, and where its first row is in the file."""

    frame: pd.DataFrame
    mapping: dict[str, str]
    line_offset: int
    unit: str
    notes: tuple[str, ...] = ()


def _read_table(
    path: Path,
    *,
    columns: Mapping[str, str] | None,
    roles: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
    sep: str | None = None,
    headerless_ok: bool = False,
) -> _Table:
    """Read a CSV/TSV/Parquet file; ID columns (``required``) are kept as strings in text."""
    require_file(path)
    source = str(path)
    if _suffix(path) in _PARQUET_SUFFIXES:
        frame = _read_parquet(path)
        mapping = resolve_columns(frame.columns, columns, source=source, roles=roles,
                                  required=required)
        return _Table(frame, mapping, 1, "row")
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
        return _Table(frame, {n: n for n in names}, 1, "line", (note,))
    mapping = resolve_columns(fields, columns, source=source, roles=roles, required=required)
    frame = read_delimited(path, sep=sep, header=True,
                           str_columns=[mapping[r] for r in required])
    return _Table(frame, mapping, 2, "line")


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
    table = _read_table(path, columns=columns, roles=INTERACTION_ROLES,
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


def read_items(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read an item table (CSV/TSV/Parquet, or a MovieLens folder or item file such as
    ``u.item``) into ``item_id, title, genres, text, …``.

    Recognises ``movieId``/``title``/``genres`` (``|``-separated, MovieLens style) and
    other aliases; ``text`` folds title, genres, tags and a description/text column when
    present. Every other column is kept as an attribute. Item IDs must be unique.
    """
    path = Path(path)
    if columns is None and (path.is_dir() or path.name in ("u.item", "movies.dat")):
        from trustrec.data.movielens import read_movielens_items

        return read_movielens_items(path)
    table = _read_table(path, columns=columns, roles=ITEM_ROLES, required=("item_id",))
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
    table = _read_table(path, columns=columns, roles={"user_id": USER_ALIASES},
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
    table = _read_table(path, columns=None, roles=roles, required=("user_id", "item_id"))
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
    known = {_norm(a): f for f in fields
             for a in (*USER_ALIASES, *ITEM_ALIASES, "user_id", "item_id") if _norm(a) == _norm(f)}
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
    suffix = _suffix(path)
    if suffix in _JSON_SUFFIXES:
        return amazon.load_amazon_reviews
    if suffix in _TEXT_SUFFIXES or suffix in _PARQUET_SUFFIXES:
        return read_interactions
    raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected "
                    f"{', '.join(_TEXT_SUFFIXES + _PARQUET_SUFFIXES + _JSON_SUFFIXES)} "
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

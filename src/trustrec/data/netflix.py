"""Netflix Prize ``combined_data_*.txt`` files (``movie_id:`` lines, then
``customer_id,rating,date`` lines), read vectorised: about 100M rows in four files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from trustrec.data.tables import (
    LoadResult,
    build_result,
    items_frame,
    read_lines,
    require_file,
)
from trustrec.data.validate import (
    CleaningReport,
    Duplicates,
    clean_ids,
    clean_interactions,
    combine_reports,
    row_error,
)
from trustrec.errors import DataError

_FILE_PATTERN = re.compile(r"combined_data_\d+\.txt(\.gz)?$")
SCALE = (1.0, 5.0)


def is_netflix_file(path: Path) -> bool:
    """Whether ``path`` is named like a Netflix Prize ``combined_data_N.txt`` file."""
    return bool(_FILE_PATTERN.match(path.name))


def netflix_files(folder: Path) -> list[Path]:
    """The ``combined_data_*.txt`` files of a folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_netflix_file(p))


def load_netflix(
    paths: str | Path | Sequence[str | Path],
    *,
    movie_titles: str | Path | None = None,
    duplicates: Duplicates = "error",
) -> LoadResult:
    """Load Netflix Prize ratings (1–5, dates → unix seconds) from files or a folder.

    ``paths``: one or more ``combined_data_*.txt`` files, or a folder holding them (and
    ``movie_titles.csv``, used when ``movie_titles`` is None). ``movie_titles``: the
    ``id,year,title`` file (latin-1; titles may contain commas) for the item table.
    """
    files = _files(paths)
    if movie_titles is None and isinstance(paths, str | Path) and Path(paths).is_dir():
        default = Path(paths) / "movie_titles.csv"
        movie_titles = default if default.is_file() else None
    parts = [_read_file(f, duplicates) for f in files]
    _check_movies_disjoint(files, [frame for frame, _ in parts])
    clean = pd.concat([frame for frame, _ in parts], ignore_index=True)
    report = combine_reports([r for _, r in parts], ", ".join(map(str, files)))
    items = read_movie_titles(Path(movie_titles)) if movie_titles is not None else None
    return build_result(clean, report, name="netflix", items=items)


def _files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        path = Path(paths)
        if path.is_dir():
            found = netflix_files(path)
            if not found:
                raise DataError(f"{path}: no combined_data_*.txt files in this folder")
            return found
        return [path]
    files = [Path(p) for p in paths]
    if not files:
        raise DataError("load_netflix: no files given")
    return files


def _read_file(path: Path, duplicates: Duplicates) -> tuple[pd.DataFrame, CleaningReport]:
    require_file(path)
    try:
        raw = pd.read_csv(path, header=None, names=["user_id", "rating", "date"],
                          dtype={"user_id": str, "date": str}, keep_default_na=False,
                          na_values=[""], skip_blank_lines=False, compression="infer")
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: empty file") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed line: {str(exc).strip()}") from exc
    first = raw["user_id"].str.strip()
    is_header = first.str.endswith(":").fillna(False).to_numpy(bool)
    movie = first.where(is_header).str[:-1].ffill()
    data = ~is_header
    lines = np.flatnonzero(data) + 1
    orphan = data & movie.isna().to_numpy()
    if orphan.any():
        raise row_error(str(path), "line", int(np.argmax(orphan)) + 1, "'movie_id'",
                        "a rating before the first 'movie_id:' line")
    blank = raw.isna().all(axis=1).to_numpy()
    if blank.any():
        raise DataError(f"{path}, line {int(np.argmax(blank)) + 1}: empty line")
    frame = pd.DataFrame({"user_id": raw["user_id"], "item_id": movie,
                          "rating": raw["rating"]})[data].reset_index(drop=True)
    frame["timestamp"] = _unix_seconds(raw["date"][data], lines, path)
    return clean_interactions(frame, source=str(path), rating_col="rating",
                              duplicates=duplicates, rating_scale=SCALE, lines=lines)


def _unix_seconds(dates: pd.Series, lines: np.ndarray, path: Path) -> np.ndarray:
    """``YYYY-MM-DD`` strings → int64 unix seconds, or an error naming the first bad line.

    Only the distinct dates (a few thousand) are parsed, then mapped back by code.
    """
    codes, distinct = pd.factorize(dates, use_na_sentinel=True)
    parsed = pd.to_datetime(pd.Series(distinct, dtype=str), format="%Y-%m-%d",
                            errors="coerce")
    seconds = ((parsed - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy(np.float64)
    values = np.where(codes >= 0, seconds[np.maximum(codes, 0)] if len(seconds) else 0.0,
                      np.nan)
    bad = np.isnan(values)
    if bad.any():
        pos = int(np.argmax(bad))
        raw = dates.iloc[pos]
        problem = ("missing date" if pd.isna(raw)
                   else f"expected a date YYYY-MM-DD, got {raw!r}")
        raise row_error(str(path), "line", int(lines[pos]), "'date'", problem)
    return values.astype(np.int64)


def _check_movies_disjoint(files: list[Path], frames: list[pd.DataFrame]) -> None:
    """Each movie's block lives in one file; the same movie in two files is an error."""
    seen: dict[str, Path] = {}
    for file, frame in zip(files, frames, strict=True):
        movies = pd.unique(frame["item_id"])
        clash = [m for m in movies if m in seen]
        if clash:
            raise DataError(f"{file}: movie {clash[0]!r} is also in {seen[clash[0]]}; "
                            "was a file given twice?")
        seen.update(dict.fromkeys(movies, file))


def read_movie_titles(path: Path) -> pd.DataFrame:
    """``movie_titles.csv`` (``id,year,title``; latin-1, titles may hold commas) as an item
    table with a ``year`` column (missing for ``NULL``)."""
    require_file(path)
    lines = read_lines(path, encoding="latin-1")
    lines = lines[lines.str.strip() != ""].reset_index(drop=True)
    parts = lines.str.split(",", n=2, expand=True, regex=False).reindex(columns=range(3))
    ids = clean_ids(parts[0], source=str(path), field="id", line_offset=1, unique=True)
    year = pd.to_numeric(parts[1], errors="coerce").astype("Int64")
    title = parts[2].fillna("").str.strip()
    shown = title.where(year.isna(), title + " (" + year.astype(str) + ")")
    table = items_frame(ids, shown, extra=pd.DataFrame({"year": year}))
    table["title"] = title
    return table

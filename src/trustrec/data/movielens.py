"""MovieLens folders (100K, 1M, latest / latest-small / 20M / 25M) with item and user tables.

Native IDs are kept as strings (``"1"``), as for any CSV, so IDs look the same whichever
reader produced them. The declared rating scale is checked on every row.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from trustrec.data.dataset import Dataset
from trustrec.data.split import Split
from trustrec.data.tables import (
    LoadResult,
    build_result,
    items_frame,
    read_clean,
    read_delimited,
    require_file,
)
from trustrec.data.validate import CleaningReport, Duplicates, clean_ids, clean_interactions
from trustrec.errors import ConfigError, DataError, UnknownIdError

RATING_FIELDS = ["user_id", "item_id", "rating", "timestamp"]
SCALES = {"ml-100k": (1.0, 5.0), "ml-1m": (1.0, 5.0), "ml-latest": (0.5, 5.0)}
_VARIANT_NAMES = {
    "ml-100k": "ml-100k", "100k": "ml-100k",
    "ml-1m": "ml-1m", "1m": "ml-1m",
    "ml-latest": "ml-latest", "ml-latest-small": "ml-latest", "latest": "ml-latest",
    "latest-small": "ml-latest", "ml-20m": "ml-latest", "ml-25m": "ml-latest",
    "ml-32m": "ml-latest",
}
# what each variant's reader returns: ratings, their report, item table, user table
_Parts = tuple[pd.DataFrame, CleaningReport, pd.DataFrame, pd.DataFrame | None]
# each variant's own item file, which ``--items`` accepts as it stands
ITEM_FILES = {"u.item": "ml-100k", "movies.dat": "ml-1m", "movies.csv": "ml-latest"}
_MARKERS = (("u.data", "ml-100k"), ("ratings.dat", "ml-1m"), ("ratings.csv", "ml-latest"))
# occupation codes of ml-1m's users.dat, as listed in its README
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)


def detect_variant(path: str | Path, *, strict: bool = True) -> str | None:
    """``'ml-100k'``, ``'ml-1m'`` or ``'ml-latest'`` from the files in ``path``.

    Returns None for a folder that is not MovieLens unless ``strict`` (then DataError).
    """
    path = Path(path)
    for marker, variant in _MARKERS:
        if (path / marker).is_file():
            return variant
    if strict:
        raise DataError(f"{path}: not a MovieLens folder (expected u.data, ratings.dat or "
                        "ratings.csv)")
    return None


def load_movielens(
    path: str | Path,
    *,
    variant: str | None = None,
    duplicates: Duplicates = "error",
    with_tags: bool = True,
) -> LoadResult:
    """Load a MovieLens folder: ratings, an item table and (100K, 1M) a user table.

    ``variant`` is detected from the files when None. The item table has ``item_id, title,
    genres`` (``|``-joined), ``text`` (title + genres, + tags for the latest releases when
    ``with_tags``) and release attributes; the user table ``user_id`` + age, gender,
    occupation, zip. Ratings are checked against 1–5 (100K, 1M) or 0.5–5 (latest).
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: expected a MovieLens folder")
    if variant is None:
        kind = detect_variant(path)
    elif variant in _VARIANT_NAMES:
        kind = _VARIANT_NAMES[variant]
    else:
        raise ConfigError(f"variant={variant!r}: expected one of {', '.join(_VARIANT_NAMES)}")
    reader = {"ml-100k": _ml100k, "ml-1m": _ml1m, "ml-latest": _latest}[kind]
    clean, report, items, users = reader(path, duplicates, with_tags)
    tables = [f"item table: {len(items):,} items"]
    if users is not None:
        tables.append(f"user table: {len(users):,} users ({', '.join(users.columns[1:])})")
    report = replace(report, notes=(*report.notes, *tables))
    return build_result(clean, report, name=path.name, items=items, users=users)


def read_movielens_items(path: str | Path) -> pd.DataFrame:
    """The item table of a MovieLens folder, or of its own item file (``u.item``,
    ``movies.dat``, ``movies.csv``): ``item_id, title, genres, text, …`` as
    :func:`load_movielens` gives it."""
    path = Path(path)
    folder, kind = (path, None) if path.is_dir() else (path.parent, ITEM_FILES.get(path.name))
    if kind is None:
        kind = detect_variant(folder, strict=False)
    if kind is None:
        raise DataError(f"{path}: not a MovieLens item table (expected a MovieLens folder or "
                        f"one of {', '.join(ITEM_FILES)})")
    return {"ml-100k": _ml100k_items, "ml-1m": _ml1m_items, "ml-latest": _latest_items}[kind](
        folder)


def load_ml100k_folds(path: str | Path) -> list[Split]:
    """The five canonical ML-100K folds ``u1..u5.base/.test`` as :class:`Split`\\ s.

    All folds share the index space of the full ``u.data`` (with item and user tables),
    so index ``i`` is the same item in every fold; each fold file must match ``u.data``.
    """
    path = Path(path)
    full = load_movielens(path, variant="ml-100k").dataset
    key = full.user.astype(np.int64) * full.n_items + full.item
    splits = []
    for fold in range(1, 6):
        masks = [_fold_mask(path / f"u{fold}.{part}", full, key) for part in ("base", "test")]
        splits.append(Split(
            train=full.filter(masks[0], name=f"ml-100k-u{fold}-train"),
            test=full.filter(masks[1], name=f"ml-100k-u{fold}-test"),
            name=f"ml-100k-u{fold}",
        ))
    return splits


def _fold_mask(file: Path, full: Dataset, key: np.ndarray) -> np.ndarray:
    """Which rows of the full data ``file`` holds (every row of it must be there)."""
    clean, _ = _read_headerless(file, "\t", SCALES["ml-100k"], "error")
    try:
        users = full.user_index.lookup(clean["user_id"].to_numpy(), what="user")
        items = full.item_index.lookup(clean["item_id"].to_numpy(), what="item")
    except UnknownIdError as exc:
        raise DataError(f"{file}: {exc} (not in u.data)") from exc
    mask = np.isin(key, users.astype(np.int64) * full.n_items + items)
    if int(mask.sum()) != len(clean):
        raise DataError(f"{file}: {len(clean) - int(mask.sum())} rating(s) are not in u.data")
    return mask


def _read_headerless(file: Path, sep: str, scale: tuple[float, float],
                     duplicates: Duplicates) -> tuple[pd.DataFrame, CleaningReport]:
    require_file(file)
    raw = read_delimited(file, sep=sep, header=False, names=RATING_FIELDS,
                         str_columns=["user_id", "item_id"], quoted=False)
    return clean_interactions(raw, source=str(file), duplicates=duplicates,
                              rating_scale=scale, line_offset=1)


def _side(file: Path, sep: str, names: list[str], id_col: str,
          str_columns: list[str]) -> pd.DataFrame:
    """A headerless latin-1 side table with a unique ID column."""
    require_file(file)
    frame = read_delimited(file, sep=sep, header=False, names=names, str_columns=str_columns,
                           encoding="latin-1", quoted=False)
    frame[id_col] = clean_ids(frame[id_col], source=str(file), field=id_col, line_offset=1,
                              unique=True)
    return frame


def _ml100k_items(path: Path) -> pd.DataFrame:
    require_file(path / "u.genre")
    genre_names = read_delimited(path / "u.genre", sep="|", header=False,
                                 names=["genre", "code"], str_columns=["genre"],
                                 encoding="latin-1", quoted=False)["genre"].tolist()
    info = ["item_id", "title", "release_date", "video_release_date", "imdb_url"]
    raw = _side(path / "u.item", "|", info + genre_names, "item_id",
                ["item_id", "title", "release_date", "imdb_url"])
    flags = raw[genre_names].fillna(0).astype(bool)
    genres = flags.dot(pd.Index(genre_names) + "|").str.rstrip("|")
    return items_frame(raw["item_id"], raw["title"], genres,
                       extra=raw[["release_date", "imdb_url"]])


def _ml100k(path: Path, duplicates: Duplicates, _with_tags: bool) -> _Parts:
    clean, report = _read_headerless(path / "u.data", "\t", SCALES["ml-100k"], duplicates)
    users = _side(path / "u.user", "|", ["user_id", "age", "gender", "occupation", "zip"],
                  "user_id", ["user_id", "gender", "occupation", "zip"])
    return clean, report, _ml100k_items(path), users


def _ml1m(path: Path, duplicates: Duplicates, _with_tags: bool) -> _Parts:
    clean, report = _read_headerless(path / "ratings.dat", "::", SCALES["ml-1m"], duplicates)
    items = _ml1m_items(path)
    users = _side(path / "users.dat", "::", ["user_id", "gender", "age", "occupation", "zip"],
                  "user_id", [])
    users["age"] = pd.to_numeric(users["age"], errors="coerce").astype("Int64")
    codes = pd.to_numeric(users["occupation"], errors="coerce")
    names = pd.Series(ML1M_OCCUPATIONS)
    users["occupation"] = codes.map(names).fillna(users["occupation"])
    return clean, report, items, users


def _ml1m_items(path: Path) -> pd.DataFrame:
    raw = _side(path / "movies.dat", "::", ["item_id", "title", "genres"], "item_id", [])
    return items_frame(raw["item_id"], raw["title"], raw["genres"])


def _latest(path: Path, duplicates: Duplicates, with_tags: bool) -> _Parts:
    columns = {"user_id": "userId", "item_id": "movieId"}
    clean, report = read_clean(path / "ratings.csv", columns=columns, sep=",",
                               duplicates=duplicates, rating_scale=SCALES["ml-latest"])
    return clean, report, _latest_items(path, with_tags), None


def _latest_items(path: Path, with_tags: bool = True) -> pd.DataFrame:
    movies_file = path / "movies.csv"
    require_file(movies_file)
    movies = read_delimited(movies_file, sep=",", header=True, str_columns=["movieId"])
    ids = clean_ids(movies["movieId"], source=str(movies_file), field="movieId", unique=True)
    genres = movies["genres"].where(movies["genres"] != "(no genres listed)", "")
    tags = _tags(path / "tags.csv", ids) if with_tags and (path / "tags.csv").is_file() else None
    return items_frame(ids, movies["title"], genres, tags=tags)


def _tags(file: Path, item_ids: pd.Series) -> pd.Series:
    """Each movie's distinct tags (case-insensitive, first spelling) joined by ', '."""
    tags = read_delimited(file, sep=",", header=True, str_columns=["userId", "movieId", "tag"])
    tags = tags.dropna(subset=["movieId", "tag"])
    tags = tags.assign(movieId=tags["movieId"].str.strip(), tag=tags["tag"].str.strip())
    tags = tags[tags["tag"] != ""]
    tags = tags.loc[~tags.assign(low=tags["tag"].str.lower()).duplicated(["movieId", "low"])]
    joined = tags.groupby("movieId", sort=False)["tag"].agg(", ".join)
    return pd.Series(joined.reindex(item_ids.to_numpy()).fillna("").to_numpy(), dtype=str,
                     index=item_ids.index)

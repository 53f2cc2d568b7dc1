"""Item side tables → one normalised text per item, ready for a sentence encoder."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trustrec.errors import ConfigError

DEFAULT_FIELDS = ("title", "genres", "tags", "description", "text")
# fields whose value speaks for itself; every other field is introduced by its name
_UNLABELLED = frozenset({"title", "description", "text"})


def normalize_text(text: str) -> str:
    """Unicode NFKC, every run of whitespace collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def build_item_texts(
    items: pd.DataFrame,
    fields: Sequence[str] | None = None,
    template: str | None = None,
) -> list[str]:
    """One normalised text per row of ``items`` (a :class:`~trustrec.data.Dataset` item table).

    By default the text joins the columns among ``title, genres, tags, description, text``
    that exist, as ``"Title. Genres: A, B. Tags: x, y. Description"``; a value already
    contained in the row's ``text`` (as in tables made by ``trustrec.data``, where ``text``
    folds title, genres and tags) is not repeated. ``fields`` picks and orders the columns
    (other columns are introduced as ``"Name: value"``); ``template`` formats each row
    instead, e.g. ``"{title}. Genres: {genres}"``. Genres use ``|`` → ``", "``; missing
    values and NaN count as empty, and a row with nothing to say gives ``""``.
    """
    if fields is not None and template is not None:
        raise ConfigError("build_item_texts: pass fields= or template=, not both")
    if template is not None:
        return _from_template(items, template)
    if fields is None:
        fields = [f for f in DEFAULT_FIELDS if f in items.columns]
        if not fields:
            raise ConfigError(f"build_item_texts: the item table has none of the columns "
                              f"{', '.join(DEFAULT_FIELDS)}; pass fields= or template= "
                              f"(columns: {_columns(items)})")
    fields = list(fields)
    if not fields:
        raise ConfigError("build_item_texts: fields= is empty; name at least one column")
    _require(items, fields, "fields")
    cells = {f: _cells(items, f) for f in fields}
    if "text" in cells:
        cells = {f: values if f == "text" else _drop_contained(values, cells["text"])
                 for f, values in cells.items()}
    labels = [("" if f in _UNLABELLED else f"{f.replace('_', ' ').capitalize()}: ") for f in fields]
    rows = zip(*(cells[f] for f in fields), strict=True)
    return [normalize_text(_join([label + v for label, v in zip(labels, row, strict=True) if v]))
            for row in rows]


def _from_template(items: pd.DataFrame, template: str) -> list[str]:
    """Format ``template`` per row; a row whose referenced fields are all empty gives ``""``."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"template {template!r}: {exc}") from exc
    for name in names:
        if not name.isidentifier():
            raise ConfigError(f"template {template!r}: field {{{name}}} must be a column name")
    if not names:
        raise ConfigError(f"template {template!r}: names no field, e.g. '{{title}}'")
    _require(items, names, "template")
    unique = list(dict.fromkeys(names))
    cells = {name: _cells(items, name) for name in unique}
    out = []
    for row in zip(*(cells[n] for n in unique), strict=True):
        values = dict(zip(unique, row, strict=True))
        out.append(normalize_text(template.format_map(values)) if any(row) else "")
    return out


def _require(items: pd.DataFrame, names: Sequence[str], what: str) -> None:
    missing = [n for n in dict.fromkeys(names) if n not in items.columns]
    if missing:
        raise ConfigError(f"build_item_texts: {what} names column(s) "
                          f"{', '.join(map(repr, missing))} that the item table lacks "
                          f"(columns: {_columns(items)})")


def _columns(items: pd.DataFrame) -> str:
    return ", ".join(map(repr, map(str, items.columns))) or "none"


def _cells(items: pd.DataFrame, field: str) -> list[str]:
    """The column as normalised strings ('' for missing); genres '|' → ', '."""
    values = [normalize_text(_as_text(v)) for v in items[field].tolist()]
    if field == "genres":
        values = [", ".join(p.strip() for p in v.split("|") if p.strip()) for v in values]
    return values


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(_as_text(v) for v in value)
    if value is None or (not hasattr(value, "__len__") and pd.isna(value)):
        return ""
    return str(value)


def _drop_contained(values: list[str], texts: list[str]) -> list[str]:
    """Blank each value that its row's text already contains (case-insensitive)."""
    return ["" if v and v.casefold() in t.casefold() else v
            for v, t in zip(values, texts, strict=True)]


def _join(parts: list[str]) -> str:
    """Join sentence parts with '. ', without doubling a part's own final punctuation."""
    out = ""
    for part in parts:
        out = part if not out else out + (" " if out[-1] in ".!?" else ". ") + part
    return out

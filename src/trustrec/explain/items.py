"""What explanations say about items: titles, categories (genres) and descriptive words.

Built once per model (and item table) and reused for every explanation: pass an
:class:`ItemInfo` to :func:`trustrec.explain.explain_external` when explaining many items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trustrec.data.ids import IdIndex
from trustrec.data.labels import multi_hot
from trustrec.errors import DataError
from trustrec.models.base import Recommender
from trustrec.models.linear import _STOPWORDS as TITLE_STOPWORDS
from trustrec.models.linear import _WORD

#: Words too common to say anything about an item: the title stopwords of ``linear`` and more.
_STOPWORDS = TITLE_STOPWORDS | frozenset("this that they them then than one two has have had "
                                         "out off new film movie story".split())
#: Item-table columns whose words can be reasons (when present; ``text`` is not one: the
#: readers fold title and genres into it).
WORD_COLUMNS: tuple[str, ...] = ("tags", "description")
#: A word on more than this share of the items says nothing in particular.
MAX_WORD_SHARE = 0.2


def _words(table: pd.DataFrame, genres: list[str]) -> tuple[sp.csr_matrix, list[str]]:
    """Items × words 0/1 CSR over the word columns, keeping words on ≥ 2 items and at most
    :data:`MAX_WORD_SHARE` of them, and no genre name (genres are reasons of their own)."""
    columns = [c for c in WORD_COLUMNS if c in table.columns]
    if not columns:
        return sp.csr_matrix((len(table), 0)), []
    text = table[columns].fillna("").astype(str).agg(" ".join, axis=1).str.lower()
    tokens = text.reset_index(drop=True).str.findall(_WORD).explode().dropna()
    tokens = tokens[~tokens.isin(_STOPWORDS | {g.lower() for g in genres})]
    m, names = multi_hot(tokens.groupby(level=0).agg("|".join).reindex(range(len(table))), "|")
    df = np.asarray(m.sum(axis=0)).ravel()
    keep = np.flatnonzero((df >= 2) & (df <= max(2, MAX_WORD_SHARE * len(table))))
    return m[:, keep].tocsr(), [names[j] for j in keep]


@dataclass(frozen=True)
class ItemInfo:
    """Per item index: ``titles`` (n_items,), ``genres`` (n_items × G, 0/1 CSR) with
    ``genre_names`` and ``words`` (n_items × V, 0/1 CSR) with ``word_names``."""

    titles: np.ndarray
    genres: sp.csr_matrix
    genre_names: list[str]
    words: sp.csr_matrix
    word_names: list[str]

    @classmethod
    def from_table(cls, items: pd.DataFrame, item_index: IdIndex) -> ItemInfo:
        """From an item table (``item_id`` plus ``title``, ``genres``, ``tags``,
        ``description``/``text`` where present), aligned with ``item_index``."""
        if "item_id" not in items.columns:
            raise DataError("item table: missing column 'item_id'")
        ids = items["item_id"].to_numpy()
        ids = ids.astype(str) if item_index.kind == "str" else pd.to_numeric(
            pd.Series(ids), errors="coerce").fillna(-1).to_numpy(np.int64)
        pos, known = item_index.lookup_known(ids)
        table = pd.DataFrame(index=range(len(item_index)), columns=items.columns, dtype=object)
        table.iloc[pos[known]] = items[known].to_numpy()
        titles = np.asarray(item_index.ids).astype(str)
        if "title" in items.columns:
            given = table["title"].fillna("").astype(str).to_numpy()
            titles = np.where(given != "", given, titles)
        genres, genre_names = (multi_hot(table["genres"], "|") if "genres" in table.columns
                               else (sp.csr_matrix((len(table), 0)), []))
        words, word_names = _words(table, genre_names)
        return cls(titles.astype(str), genres.tocsr(), genre_names, words, word_names)

    @classmethod
    def from_model(cls, model: Recommender) -> ItemInfo:
        """What a loaded model knows: titles of text models (``item_titles_``), genres of
        ``linear`` (``genre_names_``/``genres_``); otherwise item IDs as titles."""
        n_items = len(model.item_index_)
        titles = getattr(model, "item_titles_", None)
        titles = np.asarray(model.item_index_.ids if titles is None else titles).astype(str)
        names = [str(n) for n in getattr(model, "genre_names_", [])]
        genres = sp.csr_matrix((np.asarray(getattr(model, "genres_", np.zeros((n_items, 0))))
                                > 0).astype(np.float64))
        return cls(titles, genres, names, sp.csr_matrix((n_items, 0)), [])

"""build_item_texts / normalize_text: one clean text per item row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustrec.data.tables import items_frame
from trustrec.errors import ConfigError
from trustrec.text import build_item_texts, normalize_text


def test_normalize_text_nfkc_and_whitespace() -> None:
    assert normalize_text("  Ｔｏｙ\u00a0Story\t(1995)\n ") == "Toy Story (1995)"
    assert normalize_text("ﬁlm") == "film"  # NFKC ligature
    assert normalize_text(" \t\n") == ""


def test_default_uses_trustrec_text_without_repeating_it() -> None:
    items = items_frame(pd.Series(["1", "2"]), pd.Series(["Toy Story (1995)", "Heat (1995)"]),
                        pd.Series(["Adventure|Animation", "Crime"]),
                        tags=pd.Series(["pixar, fun", ""]))
    assert build_item_texts(items) == [
        "Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun",
        "Heat (1995). Genres: Crime",
    ]


def test_default_folds_columns_present() -> None:
    items = pd.DataFrame({"item_id": [1, 2], "title": ["Alien", "Up"],
                          "genres": ["Horror|Sci-Fi", np.nan],
                          "description": ["  A crew meets\na creature. ", None]})
    assert build_item_texts(items) == [
        "Alien. Genres: Horror, Sci-Fi. A crew meets a creature.",
        "Up",
    ]


def test_text_column_that_is_a_description_keeps_the_title() -> None:
    items = pd.DataFrame({"title": ["Alien", "Up"],
                          "text": ["Alien is a horror film in space", "A house flies away"]})
    assert build_item_texts(items) == ["Alien is a horror film in space",
                                       "Up. A house flies away"]


def test_missing_values_give_empty_text() -> None:
    items = pd.DataFrame({"title": [np.nan, None, "  ", "X"], "genres": [np.nan, "", None, "A|B"]})
    assert build_item_texts(items) == ["", "", "", "X. Genres: A, B"]


def test_fields_choose_order_and_label_other_columns() -> None:
    items = pd.DataFrame({"title": ["Heat"], "year": [1995], "genres": ["Crime|Drama"],
                          "keywords": [["bank", "heist"]]})
    assert build_item_texts(items, fields=["genres", "title", "year", "keywords"]) == [
        "Genres: Crime, Drama. Heat. Year: 1995. Keywords: bank, heist"]


def test_template() -> None:
    items = pd.DataFrame({"title": ["Heat", None], "genres": ["Crime|Drama", np.nan]})
    out = build_item_texts(items, template="{title}. Genres: {genres}")
    assert out == ["Heat. Genres: Crime, Drama", ""]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"template": "{title} by {director}"}, "'director'"),
    ({"fields": ["title", "plot"]}, "'plot'"),
    ({"template": "{} and {0}"}, "column name"),
    ({"template": "no fields"}, "names no field"),
    ({"fields": []}, "empty"),
    ({"fields": ["title"], "template": "{title}"}, "not both"),
])
def test_bad_fields_or_template_raise_config_error(kwargs: dict, expected: str) -> None:
    items = pd.DataFrame({"title": ["Heat"]})
    with pytest.raises(ConfigError, match=expected):
        build_item_texts(items, **kwargs)


def test_table_without_text_columns_asks_for_fields() -> None:
    with pytest.raises(ConfigError, match="none of the columns"):
        build_item_texts(pd.DataFrame({"item_id": [1], "price": [3.5]}))

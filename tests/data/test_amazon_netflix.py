"""Amazon reviews (classic and 2023 JSON Lines, plain or gzip) and Netflix Prize files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from trustrec.data import load
from trustrec.data.amazon import load_amazon_reviews
from trustrec.data.netflix import load_netflix
from trustrec.errors import DataError


def jsonl(path: Path, records: list[dict], compress: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


CLASSIC = [
    {"reviewerID": "A1", "asin": "0000013714", "overall": 5.0, "unixReviewTime": 1400000000,
     "reviewText": "great", "summary": "ok"},
    {"reviewerID": "A2", "asin": "0000013714", "overall": 3.0, "unixReviewTime": 1400000100},
    {"reviewerID": "A1", "asin": "B0001", "overall": 4.0, "unixReviewTime": 1400000200},
    {"reviewerID": "A1", "asin": "0000013714", "overall": 1.0, "unixReviewTime": 1300000000},
]


@pytest.mark.parametrize("compress", [False, True])
def test_classic_reviews(tmp_path, compress):
    name = "Books_5.json.gz" if compress else "Books_5.json"
    result = load(jsonl(tmp_path / name, CLASSIC, compress))
    ds = result.dataset
    assert ds.name == "Books_5"
    assert ds.item_index.ids.tolist() == ["0000013714", "B0001"]
    frame = ds.to_frame().sort_values(["user_id", "item_id"])
    # duplicates="last": the later review (5 stars, 2014) wins over the older one (1 star, 2011)
    assert frame.values.tolist() == [["A1", "0000013714", 5.0, 1400000000],
                                     ["A1", "B0001", 4.0, 1400000200],
                                     ["A2", "0000013714", 3.0, 1400000100]]
    assert (result.report.duplicate_rows, result.report.duplicate_policy) == (1, "last")
    assert ds.rating_scale == (1.0, 5.0)


def test_2023_reviews_and_metadata(tmp_path):
    reviews = jsonl(tmp_path / "All_Beauty.jsonl", [
        {"user_id": "U1", "asin": "X1", "parent_asin": "P1", "rating": 4,
         "timestamp": 1588687728923, "title": "nice", "text": "…"},
        {"user_id": "U2", "asin": "X2", "parent_asin": "P1", "rating": 2,
         "timestamp": 1588687729000},
    ])
    meta = jsonl(tmp_path / "meta.jsonl", [
        {"parent_asin": "P1", "title": "Soap", "categories": ["Beauty", "Bath"],
         "description": ["Smells", "good"]},
        {"parent_asin": "P2", "title": "Brush", "categories": [], "description": []},
        {"parent_asin": "P1", "title": "Soap again"},
    ])
    result = load_amazon_reviews(reviews, meta_path=meta)
    ds = result.dataset
    assert ds.item_index.ids.tolist() == ["P1", "P2"]
    assert ds.timestamp.tolist() == [1588687728, 1588687729]
    items = ds.items.set_index("item_id")
    assert items.loc["P1", "text"] == "Soap. Genres: Beauty, Bath. Smells good"
    assert items.loc["P2", "text"] == "Brush"
    assert any("milliseconds" in line for line in result.report.lines())


def test_nested_2014_categories(tmp_path):
    reviews = jsonl(tmp_path / "r.json", [{"reviewerID": "A", "asin": "B", "overall": 5}])
    meta = jsonl(tmp_path / "meta.json", [
        {"asin": "B", "title": "Pen", "categories": [["Office", "Pens"], ["Gifts"]]}])
    items = load_amazon_reviews(reviews, meta_path=meta).dataset.items
    assert items["genres"].tolist() == ["Office|Pens|Gifts"]


def test_amazon_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(CLASSIC[0]) + "\n{\"reviewerID\": \"A2\", \n")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2: malformed JSON"):
        load_amazon_reviews(bad)
    no_rating = jsonl(tmp_path / "nr.jsonl", [CLASSIC[0], {"reviewerID": "A", "asin": "B"}])
    with pytest.raises(DataError, match=r"nr\.jsonl, line 2, field 'overall' \(rating\): "
                                        "missing rating"):
        load_amazon_reviews(no_rating)
    no_user = jsonl(tmp_path / "nu.jsonl", [{"asin": "B", "overall": 3}])
    with pytest.raises(DataError, match=r"nu\.jsonl: no user_id field .*found fields: 'asin'"):
        load_amazon_reviews(no_user)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.jsonl: no user_id field"):
        load_amazon_reviews(empty)


NETFLIX_1 = "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n007,4,2005-10-19\n"
NETFLIX_2 = "3:\n1488844,1,2004-01-01\n"


def test_netflix_files_and_titles(tmp_path):
    (tmp_path / "combined_data_1.txt").write_text(NETFLIX_1)
    (tmp_path / "combined_data_2.txt").write_text(NETFLIX_2)
    (tmp_path / "movie_titles.csv").write_bytes(
        "1,2003,Dinosaur Planet\n2,NULL,Isle of Man, TT\n3,1997,Caf\xe9\n".encode("latin-1"))
    result = load(tmp_path)
    ds = result.dataset
    frame = ds.to_frame()
    assert frame["user_id"].tolist() == ["1488844", "822109", "007", "1488844"]
    assert frame["item_id"].tolist() == ["1", "1", "2", "3"]
    assert frame["rating"].tolist() == [3.0, 5.0, 4.0, 1.0]
    assert frame["timestamp"].tolist() == [1125964800, 1115942400, 1129680000, 1072915200]
    assert result.report.rows_read == 4
    items = ds.items.set_index("item_id")
    assert items.loc["2", "title"] == "Isle of Man, TT"
    assert items.loc["1", "text"] == "Dinosaur Planet (2003)"
    assert items.loc["3", "title"] == "Café" and items.loc["2", "text"] == "Isle of Man, TT"
    one = load(tmp_path / "combined_data_2.txt").dataset
    assert len(one) == 1 and one.items is None


@pytest.mark.parametrize(("text", "message"), [
    ("1488844,3,2005-09-06\n", r"line 1, field 'movie_id': a rating before"),
    ("1:\n1,3,2005-09-06\n2,x,2005-09-06\n", r"line 3, field 'rating': expected a number"),
    ("1:\n1,3,2005-09-06\n2,4,06/09/2005\n", r"line 3, field 'date': expected a date"),
    ("1:\n1,3\n", r"line 2, field 'date': missing date"),
    ("1:\n1,3,2005-09-06\n\n", r"line 3: empty line"),
    ("1:\n,3,2005-09-06\n", r"line 2, field 'user_id': missing ID"),
    ("1:\n1,3,2005-09-06\n1,4,2005-09-07\n", r"duplicate .* on lines 2, 3"),
    ("1:\n1,9,2005-09-06\n", r"line 2, field 'rating': rating 9 is outside"),
])
def test_netflix_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "combined_data_1.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=r"combined_data_1\.txt[:,] " + message):
        load_netflix(path)


def test_netflix_same_movie_in_two_files(tmp_path):
    a = tmp_path / "combined_data_1.txt"
    a.write_text(NETFLIX_2)
    b = tmp_path / "combined_data_2.txt"
    b.write_text(NETFLIX_2.replace("1488844", "5"))
    with pytest.raises(DataError, match=r"combined_data_2\.txt: movie '3' is also in"):
        load_netflix([a, b])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no combined_data_\*\.txt files"):
        load_netflix(empty)

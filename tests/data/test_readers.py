"""Readers: CSV/TSV/Parquet interactions, side tables, pairs, ID lists and ``load``."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustrec.data import readers, tables
from trustrec.errors import ConfigError, DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------- interactions
def test_csv_with_default_columns_keeps_ids_as_written(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id,rating,timestamp\n"
                                     "007,42,4,100\n7,042,5,101\nNA,null,3,102\n")
    result = readers.read_interactions(path)
    ds = result.dataset
    assert ds.user_index.kind == "str"
    assert ds.user_index.ids.tolist() == ["007", "7", "NA"]
    assert ds.item_index.ids.tolist() == ["42", "042", "null"]
    assert ds.value.tolist() == [4.0, 5.0, 3.0]
    assert ds.timestamp.tolist() == [100, 101, 102]
    assert ds.explicit and ds.name == "r"
    assert result.report.rows_read == 3


def test_aliases_are_recognised_and_logged(tmp_path, caplog):
    path = write(tmp_path / "ratings.csv", "userId,movieId,score,time,extra\n1,10,4.5,5,x\n")
    with caplog.at_level(logging.INFO, logger="trustrec.data.readers"):
        result = readers.read_interactions(path)
    assert dict(result.report.columns) == {"user_id": "userId", "item_id": "movieId",
                                           "rating": "score", "timestamp": "time"}
    assert "movieId" in caplog.text
    assert result.dataset.value.tolist() == [4.5]


@pytest.mark.parametrize(("header", "row"), [
    ("reviewerID,asin,overall,unixReviewTime", "A1,B0001,5,1400000000"),
    ("user,item,value,ts", "a,b,1,2"),
    ("userID,itemId,stars,timestamp", "a,b,1,2"),
])
def test_more_aliases(tmp_path, header, row):
    path = write(tmp_path / "r.csv", f"{header}\n{row}\n")
    assert len(readers.read_interactions(path).dataset) == 1


def test_explicit_column_mapping_wins_over_aliases(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,who,item_id,rating\na,b,i,3\n")
    ds = readers.read_interactions(path, columns={"user_id": "who"}).dataset
    assert ds.user_index.ids.tolist() == ["b"]


def test_mapping_to_an_absent_column_lists_columns_found(tmp_path):
    path = write(tmp_path / "r.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match=r"r\.csv: column 'uid' \(given for user_id\) not found; "
                                        r"found columns: 'a', 'b', 'c'"):
        readers.read_interactions(path, columns={"user_id": "uid"})
    with pytest.raises(ConfigError, match="unknown field"):
        readers.read_interactions(path, columns={"person": "a"})


def test_missing_item_column_names_file_and_columns(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,thing,rating\nu,i,3\n")
    with pytest.raises(DataError, match=r"r\.csv: no item_id column .*found columns: "
                                        r"'user_id', 'thing', 'rating'"):
        readers.read_interactions(path)


def test_bad_value_names_the_file_line(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id,rating\nu,i,3\nu,j,three\n")
    with pytest.raises(DataError, match=r"r\.csv, line 3, field 'rating': expected a number"):
        readers.read_interactions(path)


def test_duplicate_policy_reaches_the_cleaner(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id,rating\nu,i,3\nu,i,5\n")
    with pytest.raises(DataError, match=r"on lines 2, 3"):
        readers.read_interactions(path)
    assert readers.read_interactions(path, duplicates="mean").dataset.value.tolist() == [4.0]


def test_rating_scale_is_checked_and_kept(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id,rating\nu,i,3\nu,j,7\n")
    with pytest.raises(DataError, match=r"line 3, field 'rating'.*outside"):
        readers.read_interactions(path, rating_scale=(1, 5))
    ok = readers.read_interactions(write(tmp_path / "ok.csv", "user_id,item_id,rating\nu,i,3\n"),
                                   rating_scale=(1, 5))
    assert ok.dataset.rating_scale == (1.0, 5.0)


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(DataError, match=r"empty\.csv: empty file"):
        readers.read_interactions(write(tmp_path / "empty.csv", ""))
    with pytest.raises(DataError, match=r"head\.csv: no interactions"):
        readers.read_interactions(write(tmp_path / "head.csv", "user_id,item_id\n"))


def test_malformed_csv_names_the_file(tmp_path):
    path = write(tmp_path / "bad.csv", "user_id,item_id\nu,i\nu,i,3,4,5\n")
    with pytest.raises(DataError, match=r"bad\.csv: malformed"):
        readers.read_interactions(path)


def test_no_rating_column_means_implicit(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id\nu,i\nv,i\n")
    result = readers.read_interactions(path)
    assert not result.dataset.explicit
    assert result.dataset.value.tolist() == [1.0, 1.0]
    assert not result.dataset.has_timestamps
    assert result.report.implicit


def test_implicit_flag_reads_ratings_as_weights(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id,rating\nu,i,3\n")
    result = readers.read_interactions(path, implicit=True, rating_scale=(1, 5))
    assert not result.dataset.explicit and result.dataset.rating_scale is None
    assert result.dataset.value.tolist() == [3.0]
    assert any("weights" in line for line in result.report.lines())


@pytest.mark.parametrize(("name", "text"), [
    ("r.tsv", "user_id\titem_id\trating\nu\ti\t4\n"),
    ("r.txt", "user_id;item_id;rating\nu;i;4\n"),
    ("r.dat", "user_id::item_id::rating\nu::i::4\n"),
    ("r.csv", "user_id item_id rating\nu i 4\n"),
    ("r.csv", '"user_id","item_id","rating"\n"u","i",4\n'),
])
def test_separator_is_sniffed(tmp_path, name, text):
    ds = readers.read_interactions(write(tmp_path / name, text)).dataset
    assert ds.user_index.ids.tolist() == ["u"] and ds.value.tolist() == [4.0]


def test_gzipped_csv(tmp_path):
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("userId,itemId\n007,1\n")
    result = readers.load(path)
    assert result.dataset.user_index.ids.tolist() == ["007"] and result.dataset.name == "r"


def test_headerless_file_is_read_in_the_default_order(tmp_path):
    path = write(tmp_path / "ratings.dat", "1::0010::5::978300760\n2::20::3::978300761\n")
    result = readers.read_interactions(path)
    assert result.dataset.item_index.ids.tolist() == ["0010", "20"]
    assert result.dataset.timestamp.tolist() == [978300760, 978300761]
    assert any("no header" in line for line in result.report.lines())
    bad = write(tmp_path / "bad.tsv", "1\t10\t5\n2\t\t3\n")
    with pytest.raises(DataError, match=r"bad\.tsv, line 2, field 'item_id': missing ID"):
        readers.read_interactions(bad)


def test_parquet_keeps_integer_ids(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"userId": [10, 20], "movieId": [7, 7], "rating": [4.0, 2.0]}).to_parquet(path)
    ds = readers.read_interactions(path).dataset
    assert ds.user_index.kind == "int" and ds.user_index.ids.tolist() == [10, 20]


def test_parquet_string_ids_and_row_numbers(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": ["007", "8"], "item_id": ["a", None]}).to_parquet(path)
    with pytest.raises(DataError, match=r"r\.parquet, row 2, field 'item_id': missing ID"):
        readers.read_interactions(path)
    bad = write(tmp_path / "bad.parquet", "not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot read Parquet"):
        readers.read_interactions(bad)


def test_side_tables_join_the_index(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id\nu,i\n")
    items = pd.DataFrame({"item_id": ["j", "i"], "title": ["J", "I"]})
    users = pd.DataFrame({"user_id": ["u"], "gender": ["F"]})
    ds = readers.read_interactions(path, items=items, users=users).dataset
    assert ds.item_index.ids.tolist() == ["j", "i"]  # the table's order, not the data's
    assert ds.items["title"].tolist() == ["J", "I"]
    assert ds.users["gender"].tolist() == ["F"]
    assert ds.public_catalogue and ds.filter(np.zeros(1, bool)).public_catalogue


def test_an_item_outside_the_table_makes_the_catalogue_private(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id\nu,i\nv,k\n")
    items = pd.DataFrame({"item_id": ["j", "i"], "title": ["J", "I"]})
    ds = readers.read_interactions(path, items=items).dataset
    assert ds.item_index.ids.tolist() == ["j", "i", "k"]
    assert not ds.public_catalogue
    assert not readers.read_interactions(path).dataset.public_catalogue


def test_load_train_test_shares_one_index(tmp_path, caplog):
    train = write(tmp_path / "train.csv", "user_id,item_id,rating\nu,a,4\nv,b,3\n")
    test = write(tmp_path / "test.csv", "user_id,item_id,rating\nu,b,5\nw,a,2\nu,a,1\n")
    with caplog.at_level(logging.WARNING):
        split = readers.load_train_test(train, test)
    assert split.train.user_index is split.test.user_index
    assert (len(split.train), len(split.test)) == (2, 3)
    assert split.test.to_frame()["user_id"].tolist() == ["u", "w", "u"]
    assert "1 (user, item) pair(s) appear in both" in caplog.text


# ---------------------------------------------------------------------- side tables
def test_read_items_movielens_style(tmp_path):
    path = write(tmp_path / "movies.csv",
                 'movieId,title,genres,year\n001,"Heat, The (1995)",Action|Crime,1995\n'
                 "2,Solo,,2018\n")
    items = readers.read_items(path)
    assert items["item_id"].tolist() == ["001", "2"]
    assert items["text"].tolist() == ["Heat, The (1995). Genres: Action, Crime", "Solo"]
    assert items["year"].tolist() == [1995, 2018]
    assert list(items.columns[:4]) == ["item_id", "title", "genres", "text"]


def test_read_items_folds_tags_and_description(tmp_path):
    path = write(tmp_path / "items.tsv", "item_id\tname\tcategory\ttags\tdescription\n"
                                         "x\tLamp\tHome|Light\tbright\tA desk lamp.\n")
    text = readers.read_items(path)["text"].iloc[0]
    assert text == "Lamp. Genres: Home, Light. Tags: bright. A desk lamp."


def test_read_items_errors_name_file_and_line(tmp_path):
    dup = write(tmp_path / "items.csv", "item_id,title\na,A\nb,B\na,C\n")
    with pytest.raises(DataError, match=r"items\.csv: duplicate item_id 'a' on lines 2, 4"):
        readers.read_items(dup)
    missing = write(tmp_path / "i2.csv", "title\nA\n")
    with pytest.raises(DataError, match=r"i2\.csv: no item_id column .*found columns: 'title'"):
        readers.read_items(missing)


def test_read_users(tmp_path):
    path = write(tmp_path / "users.csv", "userId,age,gender\n007,30,F\n8,41,M\n")
    users = readers.read_users(path)
    assert users.columns.tolist() == ["user_id", "age", "gender"]
    assert users["user_id"].tolist() == ["007", "8"] and users["age"].tolist() == [30, 41]
    empty_id = write(tmp_path / "u2.csv", "user_id,age\n1,3\n,4\n")
    with pytest.raises(DataError, match=r"u2\.csv, line 3, field 'user_id': missing ID"):
        readers.read_users(empty_id)


def test_read_pairs_keeps_extra_columns(tmp_path):
    path = write(tmp_path / "pairs.csv", "user_id,item_id,truth\n007,01,4\n007,01,4\n")
    pairs = readers.read_pairs(path)
    assert pairs.columns.tolist() == ["user_id", "item_id", "truth"]
    assert pairs["item_id"].tolist() == ["01", "01"]
    with pytest.raises(DataError, match=r"p2\.csv: no item_id column"):
        readers.read_pairs(write(tmp_path / "p2.csv", "user_id\n1\n"))
    with pytest.raises(DataError, match=r"p3\.csv: no pairs"):
        readers.read_pairs(write(tmp_path / "p3.csv", "user_id,item_id\n"))


def test_read_id_list_plain_and_csv(tmp_path):
    plain = readers.read_id_list(write(tmp_path / "ids.txt", "007\n 8 \n\nx y\n"))
    assert plain.tolist() == ["007", "8", "x y"]
    assert plain.dtype.kind == "U"
    table = readers.read_id_list(write(tmp_path / "u.csv", "user_id,score\n007,1\n9,2\n"))
    assert table.tolist() == ["007", "9"]
    both = write(tmp_path / "b.csv", "user_id,item_id\n1,2\n")
    with pytest.raises(DataError, match="several ID columns"):
        readers.read_id_list(both)
    assert readers.read_id_list(both, column="item_id").tolist() == ["2"]
    with pytest.raises(DataError, match=r"e\.txt: no IDs"):
        readers.read_id_list(write(tmp_path / "e.txt", "\n\n"))


# ---------------------------------------------------------------------- load
def test_load_detects_formats(tmp_path):
    csv = write(tmp_path / "r.csv", "user_id,item_id\nu,i\n")
    assert len(readers.load(csv).dataset) == 1
    pq = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": [1], "item_id": [2]}).to_parquet(pq)
    assert readers.load(pq).dataset.user_index.kind == "int"
    folder = tmp_path / "ml"
    folder.mkdir()
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.5,9\n")
    write(folder / "movies.csv", "movieId,title,genres\n2,Two (2000),Drama\n")
    loaded = readers.load(folder, duplicates="error")
    assert loaded.dataset.items["text"].tolist() == ["Two (2000). Genres: Drama"]


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match=r"nothing\.csv: no such file"):
        readers.load(tmp_path / "nothing.csv")
    with pytest.raises(DataError, match=r"r\.xlsx: unsupported file type '\.xlsx'"):
        readers.load(write(tmp_path / "r.xlsx", "x"))
    with pytest.raises(DataError, match="not a known data folder"):
        readers.load(tmp_path)
    csv = write(tmp_path / "r.csv", "user_id,item_id\nu,i\n")
    with pytest.raises(ConfigError, match="with_tags do not apply to read_interactions"):
        readers.load(csv, with_tags=False)


def test_fold_text_skips_empty_parts():
    text = tables.fold_text(pd.Series(["A", "", "C"]), pd.Series(["x|y", "z", None]),
                             tags=pd.Series(["", "t", "u"]))
    assert text.tolist() == ["A. Genres: x, y", "Genres: z. Tags: t", "C. Tags: u"]


def test_load_train_test_drops_a_column_only_one_file_has(tmp_path):
    train = write(tmp_path / "train.csv", "user_id,item_id,rating,timestamp\nu,a,4,1\n")
    test = write(tmp_path / "test.csv", "user_id,item_id,rating\nu,b,5\n")
    split = readers.load_train_test(train, test)
    assert not split.train.has_timestamps and split.test.value.tolist() == [5.0]
    bad = write(tmp_path / "bad.csv", "user_id,item_id,rating\nu,b,x\n")
    with pytest.raises(DataError, match=r"bad\.csv, line 2, field 'rating'"):
        readers.load_train_test(train, bad)


def test_csv_with_utf8_byte_order_mark_is_read(tmp_path):
    # Excel's "CSV UTF-8" starts the file with a byte-order mark
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffuser_id,item_id,rating\nu1,i1,4\n".encode())
    ds = readers.read_interactions(path).dataset
    assert ds.user_index.ids.tolist() == ["u1"]
    items = tmp_path / "items.csv"
    items.write_bytes("\ufeffitem_id,title\ni1,Alien\n".encode())
    assert readers.read_items(items)["item_id"].tolist() == ["i1"]


def test_iso_8601_timestamps_become_unix_seconds(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id,rating,timestamp\n"
                                     "1,1,4,2024-05-01T12:00:00Z\n1,2,4,2024-05-01 12:00:01\n"
                                     "2,1,3,100\n2,2,3,2024-05-01T14:00:00+02:00\n")
    assert readers.read_interactions(path).dataset.timestamp.tolist() == [
        1714564800, 1714564801, 100, 1714564800]
    frame = pd.DataFrame({"user_id": ["1"], "item_id": ["1"], "rating": [4.0],
                          "timestamp": pd.to_datetime(["2024-05-01T12:00:00"])})
    frame.to_parquet(tmp_path / "r.parquet")
    assert readers.read_interactions(tmp_path / "r.parquet").dataset.timestamp.tolist() == [
        1714564800]
    write(path, "user_id,item_id,rating,timestamp\n1,1,4,yesterday\n")
    with pytest.raises(DataError, match=r"line 2, field 'timestamp'.*ISO-8601.*'yesterday'"):
        readers.read_interactions(path)


def test_readers_keeps_the_helpers_it_used_to_define() -> None:
    """The low-level helpers moved to ``data.tables``; the old import path still works."""
    for name in readers.__all__:
        assert hasattr(readers, name), name
    assert readers.items_frame is tables.items_frame and readers.read_clean is tables.read_clean

"""MovieLens folders: tiny hand-written layouts of every variant, then the real shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trustrec.data import load, load_ml100k_folds, load_movielens
from trustrec.data.movielens import detect_variant
from trustrec.errors import ConfigError, DataError

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
U_DATA = [("1", "1", 5, 10), ("1", "2", 3, 11), ("2", "1", 4, 12), ("2", "3", 1, 13),
          ("3", "2", 2, 14)]


def flags(*names: str) -> str:
    return "|".join("1" if g in names else "0" for g in GENRES)


def make_ml100k(folder: Path, rows=U_DATA) -> Path:
    folder.mkdir()
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    (folder / "u.genre").write_text("".join(f"{g}|{n}\n" for n, g in enumerate(GENRES)) + "\n")
    (folder / "u.item").write_bytes(
        (f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags('Animation', 'Comedy')}\n"
         f"2|Café (1996)|01-Jan-1996||http://y|{flags('Drama')}\n"
         f"3|unknown||||{flags('unknown')}\n").encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|00043\n"
                                   "3|23|M|writer|T8H1N\n")
    return folder


def test_ml100k_tables(tmp_path):
    result = load_movielens(make_ml100k(tmp_path / "ml-100k"))
    ds = result.dataset
    assert (len(ds), ds.n_users, ds.n_items) == (5, 3, 3)
    assert ds.rating_scale == (1.0, 5.0) and ds.explicit and ds.has_timestamps
    assert ds.user_index.ids.tolist() == ["1", "2", "3"]
    items = ds.items.set_index("item_id")
    assert items.loc["1", "genres"] == "Animation|Comedy"
    assert items.loc["1", "text"] == "Toy Story (1995). Genres: Animation, Comedy"
    assert items.loc["2", "title"] == "Café (1996)"
    users = ds.users.set_index("user_id")
    assert users.loc["2", "gender"] == "F" and users.loc["2", "zip"] == "00043"
    assert users.loc["1", "age"] == 24 and users.loc["3", "occupation"] == "writer"
    assert any("user table" in line for line in result.report.lines())


def test_ml100k_errors_name_the_file(tmp_path):
    folder = make_ml100k(tmp_path / "ml-100k", rows=[*U_DATA, ("3", "3", 6, 15)])
    with pytest.raises(DataError, match=r"u\.data, line 6, field 'rating': rating 6 is outside"):
        load_movielens(folder)
    (folder / "u.data").write_text("1\t1\t5\t10\n1\t1\t4\t11\n")
    with pytest.raises(DataError, match=r"u\.data: duplicate .* on lines 1, 2"):
        load_movielens(folder)
    assert len(load_movielens(folder, duplicates="last").dataset) == 1
    (folder / "u.user").unlink()
    with pytest.raises(DataError, match=r"u\.user: no such file"):
        load_movielens(folder, duplicates="last")


def test_ml100k_folds_share_the_full_index(tmp_path):
    folder = make_ml100k(tmp_path / "ml-100k")
    lines = (folder / "u.data").read_text().splitlines(keepends=True)
    for k in range(1, 6):
        test = [lines[k - 1]]
        (folder / f"u{k}.test").write_text("".join(test))
        (folder / f"u{k}.base").write_text("".join(x for x in lines if x not in test))
    splits = load_ml100k_folds(folder)
    assert [s.name for s in splits] == [f"ml-100k-u{k}" for k in range(1, 6)]
    for k, split in enumerate(splits):
        assert (len(split.train), len(split.test)) == (4, 1)
        assert split.train.item_index is split.test.item_index is splits[0].train.item_index
        assert split.test.to_frame()[["user_id", "item_id"]].values.tolist() == \
            [list(U_DATA[k][:2])]
        assert split.train.items is not None and split.train.users is not None
    (folder / "u1.test").write_text("9\t1\t5\t10\n")
    with pytest.raises(DataError, match=r"u1\.test: .*unknown user.*not in u\.data"):
        load_ml100k_folds(folder)
    (folder / "u1.test").write_text("3\t1\t5\t10\n")
    with pytest.raises(DataError, match=r"u1\.test: 1 rating\(s\) are not in u\.data"):
        load_ml100k_folds(folder)


def test_ml1m_layout(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n2::1193::4::978300761\n")
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest: Año (1975)::Drama|Comedy\n".encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    ds = load_movielens(folder).dataset
    assert ds.rating_scale == (1.0, 5.0) and len(ds) == 2
    assert ds.items["title"].tolist() == ["One Flew Over the Cuckoo's Nest: Año (1975)"]
    assert ds.items["genres"].tolist() == ["Drama|Comedy"]
    users = ds.users.set_index("user_id")
    assert users.loc["1", "occupation"] == "K-12 student"
    assert users.loc["2", "occupation"] == "self-employed" and users.loc["2", "age"] == 56
    assert detect_variant(folder) == "ml-1m"


def test_latest_layout_with_tags(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,9\n"
                                        "1,2,0.5,10\n")
    (folder / "movies.csv").write_text('movieId,title,genres\n1,"Heat, The (1995)",Action\n'
                                       "2,Two,(no genres listed)\n3,Cold,Drama\n")
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,dark,1\n2,1,Dark,2\n"
                                     '1,1,"slow, long",3\n')
    result = load(folder)
    ds = result.dataset
    assert ds.rating_scale == (0.5, 5.0) and ds.n_items == 3
    items = ds.items.set_index("item_id")
    assert items.loc["1", "text"] == "Heat, The (1995). Genres: Action. Tags: dark, slow, long"
    assert items.loc["2", "text"] == "Two"
    without = load_movielens(folder, with_tags=False).dataset.items.set_index("item_id")
    assert "Tags" not in without.loc["1", "text"]
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,0,9\n")
    with pytest.raises(DataError, match=r"ratings\.csv, line 2, field 'rating': .*0\.5–5"):
        load_movielens(folder)


def test_variant_option(tmp_path):
    with pytest.raises(DataError, match="not a MovieLens folder"):
        load_movielens(tmp_path)
    with pytest.raises(ConfigError, match="variant='ml-2k'"):
        load_movielens(tmp_path, variant="ml-2k")


# ---------------------------------------------------------------------- real data
def test_real_ml100k(movielens_dir):
    result = load(movielens_dir / "ml-100k")
    ds = result.dataset
    assert (len(ds), ds.n_users, ds.n_items) == (100_000, 943, 1682)
    assert set(ds.users["gender"]) == {"M", "F"}
    assert ds.items["genres"].str.len().gt(0).all()
    assert ds.value.min() == 1 and ds.value.max() == 5


def test_real_ml_latest_small(movielens_dir):
    ds = load_movielens(movielens_dir / "ml-latest-small").dataset
    assert (len(ds), ds.n_users) == (100_836, 610)
    toy = ds.items.set_index("item_id").loc["1", "text"]
    assert "Animation" in toy and "pixar" in toy
    assert ds.items["text"].str.contains("Tags: ").sum() > 1000


def test_real_ml100k_folds(movielens_dir):
    splits = load_ml100k_folds(movielens_dir / "ml-100k")
    assert len(splits) == 5
    all_test = []
    for split in splits:
        assert (len(split.train), len(split.test)) == (80_000, 20_000)
        train = split.train.user.astype(np.int64) * split.train.n_items + split.train.item
        test = split.test.user.astype(np.int64) * split.test.n_items + split.test.item
        assert not np.isin(test, train).any()
        all_test.append(test)
    assert len(np.unique(np.concatenate(all_test))) == 100_000


def test_item_table_from_a_movielens_folder_or_its_own_item_file(tmp_path):
    from trustrec.data.readers import read_items

    folder = make_ml100k(tmp_path / "ml-100k")
    expected = load_movielens(folder).dataset.items
    for given in (folder, folder / "u.item"):
        table = read_items(given)
        assert table["item_id"].tolist() == ["1", "2", "3"]
        assert table["text"].tolist() == expected["text"].tolist()
    with pytest.raises(DataError, match="not a MovieLens item table"):
        read_items(tmp_path)

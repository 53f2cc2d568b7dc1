"""Synthetic data: schema, determinism, realistic shape, learnable structure, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trustrec.data import readers, synthetic
from trustrec.data.split import random_holdout
from trustrec.errors import ConfigError


@pytest.fixture(scope="module")
def ds():
    return synthetic.generate(seed=0)


@pytest.fixture(scope="module")
def holdout(ds):
    return random_holdout(ds, test_fraction=0.2, seed=1)


def test_default_dataset_has_the_documented_schema(ds):
    assert (len(ds), ds.n_users, ds.n_items) == (50_000, 1000, 500)
    assert ds.explicit and ds.rating_scale == (1.0, 5.0)
    assert ds.user_index.ids[:2].tolist() == ["u00001", "u00002"]
    assert ds.item_index.ids[-1] == "i00500"
    assert list(ds.items.columns) == ["item_id", "title", "genres", "text", "description"]
    assert list(ds.users.columns) == ["user_id", "gender", "age_group", "occupation", "country"]
    assert np.array_equal(ds.items["item_id"], ds.item_index.ids)  # aligned with the index
    assert np.array_equal(ds.users["user_id"], ds.user_index.ids)
    assert not ds.to_frame().duplicated(["user_id", "item_id"]).any()
    assert set(np.unique(ds.value)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.0 < ds.value.mean() < 4.0
    assert ds.users.notna().all().all() and ds.items.notna().all().all()


def test_same_seed_same_data_other_seed_other_data(ds):
    again, other = synthetic.generate(seed=0), synthetic.generate(seed=1)
    assert again.fingerprint() == ds.fingerprint()
    pd.testing.assert_frame_equal(again.items, ds.items)
    pd.testing.assert_frame_equal(again.users, ds.users)
    assert other.fingerprint() != ds.fingerprint()
    assert not other.items["title"].equals(ds.items["title"])


@pytest.mark.parametrize(("kwargs", "size"), [
    ({"n_users": 50, "n_items": 30, "n_interactions": 777}, 777),
    ({"n_users": 40, "n_items": 20, "density": 0.25}, 200),
    ({"n_users": 5, "n_items": 3, "n_interactions": 15}, 15),  # every pair
])
def test_requested_size_is_met_exactly(kwargs, size):
    small = synthetic.generate(**kwargs)
    assert len(small) == size
    assert not small.to_frame().duplicated(["user_id", "item_id"]).any()


def test_implicit_feedback_and_topic_count():
    implicit = synthetic.generate(n_users=60, n_items=40, n_interactions=600, n_topics=3,
                                  explicit=False)
    assert not implicit.explicit and implicit.rating_scale is None
    assert (implicit.value == 1.0).all()
    genres = set("|".join(implicit.items["genres"]).split("|"))
    assert genres <= set(list(synthetic.TOPICS)[:3])


@pytest.mark.parametrize("kwargs", [{"n_topics": 0}, {"n_topics": len(synthetic.TOPICS) + 1},
                                    {"n_users": 10, "n_items": 10, "n_interactions": 101},
                                    {"n_users": 0}])
def test_impossible_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        synthetic.generate(**kwargs)


def test_popularity_and_activity_are_long_tailed(ds):
    items = np.sort(ds.item_counts())[::-1]
    assert items[: len(items) // 10].sum() > 0.25 * items.sum()  # top 10% of items
    users = ds.user_counts()
    assert users.min() >= 5 and users.max() > 4 * np.median(users)


def test_timestamps_increase_per_user_in_sessions(ds):
    order = np.lexsort((ds.timestamp, ds.user))
    same_user = np.diff(ds.user[order]) == 0
    gaps = np.diff(ds.timestamp[order])[same_user]
    assert (gaps > 0).all()
    assert (gaps < 3600).mean() > 0.5  # most steps stay within a session
    assert (gaps > 86_400).mean() > 0.1  # sessions are days apart
    start = 1_546_300_800
    assert ds.timestamp.min() >= start and ds.timestamp.max() <= start + 730 * 86_400
    # the rows form a time-ordered log
    assert (np.diff(ds.timestamp) >= 0).all()


def test_item_text_is_written_from_the_topic_vocabulary(ds):
    items = ds.items
    assert items["title"].is_unique
    assert items["title"].str.match(r"^[A-Z][A-Za-z]+( [A-Za-z0-9]+)+$").all()
    words = items["description"].str.lower().str.rstrip(".").str.split()
    assert words.str.len().between(15, 30).all()
    genre_words = items["genres"].str.split("|").map(
        lambda gs: set().union(*(synthetic.TOPICS[g] for g in gs)))
    in_genre = [np.mean([w in vocab for w in ws]) for ws, vocab in zip(words, genre_words,
                                                                       strict=True)]
    assert np.mean(in_genre) > 0.5  # mostly the item's main topics
    first = items.iloc[0]
    assert first["text"].startswith(first["title"])
    assert first["genres"].split("|")[0] in first["text"]
    assert first["description"] in first["text"]


def test_topic_vocabularies_do_not_share_words():
    words = [w for vocab in synthetic.TOPICS.values() for w in vocab]
    assert len(words) == len(set(words))


def _hit_rate(scores: np.ndarray, train: np.ndarray, test: np.ndarray, k: int = 10) -> float:
    """Hits in the top-``k`` unseen items / min(k, |test|), averaged over test users."""
    scores = np.where(train, -np.inf, scores)
    top = np.argsort(-scores, axis=1)[:, :k]
    hits = np.take_along_axis(test, top, axis=1).sum(axis=1)
    n_test = test.sum(axis=1)
    has = n_test > 0
    return float((hits[has] / np.minimum(k, n_test[has])).mean())


def test_planted_structure_beats_global_popularity(ds, holdout):
    train = holdout.train.csr.toarray() > 0
    test = holdout.test.csr.toarray() > 0
    counts = train.sum(axis=0).astype(float)
    popularity = _hit_rate(np.broadcast_to(counts, train.shape), train, test)
    # item-item cosine co-occurrence
    co = train.T.astype(float) @ train
    np.fill_diagonal(co, 0.0)
    norm = np.sqrt(counts) + 1e-9
    cooccurrence = _hit_rate(train @ (co / norm[:, None] / norm[None, :]), train, test)
    # per-genre popularity weighted by the user's genre profile (side information only)
    genres = ds.items["genres"].str.get_dummies("|").to_numpy(float)
    per_genre = _hit_rate((train @ genres) @ (genres * counts[:, None]).T, train, test)
    assert cooccurrence > 1.2 * popularity
    assert per_genre > 1.2 * popularity


def test_ratings_carry_item_signal(holdout):
    train, test = holdout.train, holdout.test
    mean = train.value.mean()
    sums = np.bincount(train.item, weights=train.value, minlength=train.n_items)
    item_mean = (sums + 5 * mean) / (train.item_counts() + 5)  # damped item means
    rmse_global = np.sqrt(np.mean((test.value - mean) ** 2))
    rmse_item = np.sqrt(np.mean((test.value - item_mean[test.item]) ** 2))
    assert rmse_item < 0.97 * rmse_global


def _genre_gap(ds, codes: np.ndarray) -> float:
    """Largest total-variation distance between two groups' main-genre shares."""
    main = pd.factorize(ds.items["genres"].str.split("|").str[0])[0][ds.item]
    n_groups, n_genres = codes.max() + 1, main.max() + 1
    table = np.bincount(codes[ds.user] * n_genres + main, minlength=n_groups * n_genres)
    shares = table.reshape(n_groups, n_genres) / table.reshape(n_groups, n_genres).sum(
        axis=1, keepdims=True)
    return max(0.5 * np.abs(shares[a] - shares[b]).sum()
               for a in range(n_groups) for b in range(a + 1, n_groups))


@pytest.mark.parametrize("attribute", ["gender", "age_group"])
def test_some_attributes_shift_tastes_mildly(ds, attribute):
    codes = pd.factorize(ds.users[attribute])[0]
    rng = np.random.default_rng(0)
    shuffled = max(_genre_gap(ds, rng.permutation(codes)) for _ in range(20))
    observed = _genre_gap(ds, codes)
    assert shuffled < observed < 0.35  # a real gap, beyond chance, but mild


def test_to_files_round_trips_through_the_readers(tmp_path, ds):
    paths = synthetic.to_files(ds, tmp_path / "synthetic")
    assert set(paths) == {"interactions", "items", "users"}
    header = paths["interactions"].read_text().splitlines()[0]
    assert header == "user_id,item_id,rating,timestamp"
    items, users = readers.read_items(paths["items"]), readers.read_users(paths["users"])
    back = readers.read_interactions(paths["interactions"], items=items, users=users).dataset
    pd.testing.assert_frame_equal(back.to_frame(), ds.to_frame())
    # the read-back index follows first appearance: compare side tables by ID (the reader
    # folds the description into text rather than keeping it as a column)
    cols = ["title", "genres", "text"]
    pd.testing.assert_frame_equal(back.items.set_index("item_id").loc[ds.item_index.ids, cols],
                                  ds.items.set_index("item_id")[cols])
    pd.testing.assert_frame_equal(back.users.set_index("user_id").loc[ds.user_index.ids],
                                  ds.users.set_index("user_id"))


def test_to_files_writes_no_rating_column_for_implicit_data(tmp_path):
    implicit = synthetic.generate(n_users=20, n_items=10, n_interactions=60, explicit=False)
    paths = synthetic.to_files(implicit, tmp_path)
    assert paths["interactions"].read_text().splitlines()[0] == "user_id,item_id,timestamp"
    assert not readers.read_interactions(paths["interactions"]).dataset.explicit

"""``content``: contract, cold items of the user's topic, profile weights, persistence.

The bundled text encoder is loaded once per test session (:func:`encoder`); the other text
model tests import it and the synthetic data from here.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.data.synthetic import generate
from trustrec.errors import ConfigError, ModelError
from trustrec.models import Recommender, create_model
from trustrec.models.content import TextVectorModel
from trustrec.text import TextEncoder


class MemoEncoder(TextEncoder):
    """The bundled encoder, remembering the vectors of text lists it has seen (the tests
    fit many models on the same items; a disk cache would outlive the session)."""

    def __init__(self) -> None:
        super().__init__()
        self._memo: dict[tuple[str, ...], np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in self._memo:
            self._memo[key] = super().encode(texts)
        return self._memo[key].copy()


@functools.cache
def encoder() -> TextEncoder:
    """The bundled sentence encoder, loaded once per test session."""
    return MemoEncoder()


@functools.cache
def text_data(explicit: bool = True) -> Dataset:
    """Small synthetic data whose item titles, genres and text come from topic vocabularies."""
    return generate(n_users=80, n_items=60, n_interactions=1500, seed=3, explicit=explicit)


def text_model(name: str, **params: object) -> TextVectorModel:
    """Model ``name`` that fits with the session's encoder."""
    model = create_model(name, params, seed=0)
    assert isinstance(model, TextVectorModel)
    return model.use_encoder(encoder())


def main_genre(data: Dataset) -> np.ndarray:
    """Each item's strongest topic (its first genre)."""
    return data.items["genres"].str.split("|").str[0].to_numpy()


@pytest.fixture
def planted() -> Dataset:
    """The contract's data, here with an item table (overrides the conftest fixture)."""
    return text_data()


class TestContent(ModelContract):
    history_exact = False  # training profiles weight by recency and centred ratings
    model_name = "content"

    def make(self) -> Recommender:
        return text_model(self.model_name)


@pytest.fixture(scope="module")
def cold_split() -> tuple[Dataset, Dataset, np.ndarray]:
    """Four-topic data with 25 items (all their interactions) held out: (full, train, cold)."""
    data = generate(n_users=120, n_items=100, n_interactions=3000, n_topics=4, seed=5)
    rng = np.random.default_rng(0)
    cold = np.sort(rng.choice(np.flatnonzero(data.item_counts()), size=25, replace=False))
    return data, data.filter(~np.isin(data.item, cold)), cold


def test_cold_items_of_the_favourite_topic_come_first(cold_split) -> None:
    data, train, cold = cold_split
    model = text_model("content").fit(train)
    genre = main_genre(data)
    history = pd.DataFrame({"user": train.user, "genre": genre[train.item]})
    favourite = history.groupby("user")["genre"].agg(lambda g: g.value_counts().index[0])
    users = favourite.index.to_numpy()
    recs = model.recommend(users, k=3, candidates=cold)
    in_topic = genre[recs.items] == favourite.to_numpy()[:, None]
    # the largest topic holds 9 of the 25 cold items: chance is at most 0.36
    assert in_topic[:, 0].mean() > 0.7
    assert in_topic.mean() > 0.65


def test_candidates_restrict_lists_to_cold_items(cold_split) -> None:
    _, train, cold = cold_split
    model = text_model("content").fit(train)
    recs = model.recommend(np.arange(train.n_users), k=10, candidates=cold)
    assert set(recs.items.ravel()) <= set(cold)
    assert np.isfinite(recs.scores).all()
    assert train.item_counts()[cold].sum() == 0


def test_score_is_cosine_of_profile_and_item(planted: Dataset) -> None:
    model = text_model("content").fit(planted)
    profiles = model.user_profiles([0, 1])
    np.testing.assert_allclose(np.linalg.norm(profiles, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.score([0, 1]), profiles @ model.item_vectors_.T, rtol=1e-5)


def test_profile_weights_follow_ratings_and_recency() -> None:
    data = text_data()
    u = int(data.user[0])
    rows = np.flatnonzero(data.user == u)
    items, ratings, times = data.item[rows], data.value[rows], data.timestamp[rows]
    plain = text_model("content", rating_centering=False).fit(data)
    np.testing.assert_allclose(plain.user_profiles([u])[0], plain.profile_from_history(items),
                               rtol=1e-5, atol=1e-6)
    centred = text_model("content").fit(data)
    loved, hated = items[ratings.argmax()], items[ratings.argmin()]
    assert ratings.max() > ratings.min()
    gap = centred.score([u], [loved, hated])[0]
    plain_gap = plain.score([u], [loved, hated])[0]
    assert gap[0] - gap[1] > plain_gap[0] - plain_gap[1]
    recent = text_model("content", half_life_days=1e-6, rating_centering=False).fit(data)
    latest = items[times == times.max()]
    np.testing.assert_allclose(recent.user_profiles([u])[0], recent.profile_from_history(latest),
                               atol=1e-4)


def test_loaded_model_needs_no_encoder(planted: Dataset, tmp_path) -> None:
    model = text_model("content").fit(planted)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, TextVectorModel)
    assert loaded._encoder is None
    np.testing.assert_array_equal(loaded.item_vectors_, model.item_vectors_)
    np.testing.assert_array_equal(loaded.item_titles_, planted.items["title"].to_numpy())
    assert loaded.encoder_id_ == encoder().model_id


def test_needs_an_item_table() -> None:
    data = text_data()
    bare = Dataset(user=data.user, item=data.item, value=data.value,
                   user_index=data.user_index, item_index=data.item_index)
    with pytest.raises(ModelError, match="item table"):
        text_model("content").fit(bare)


def test_handed_over_encoder_must_match_the_config() -> None:
    with pytest.raises(ModelError, match="encoder"):
        create_model("content", {"encoder": "some/other-model"}).use_encoder(encoder())


@pytest.mark.parametrize("params", [{"half_life_days": 0}, {"half_life_days": "nan"},
                                    {"text_fields": " , "}])
def test_bad_parameters_raise_config_error(params: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(params))):
        create_model("content", params)

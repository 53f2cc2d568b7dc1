"""``linear``: contract, exact contributions, stable feature names, targets, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.models.contract import ModelContract
from tests.models.test_content import main_genre, text_data, text_model
from trustrec.data import Dataset
from trustrec.data.split import random_holdout
from trustrec.data.synthetic import generate
from trustrec.errors import ConfigError, ModelError
from trustrec.evaluation.metrics import rmse
from trustrec.models import Recommender, create_model
from trustrec.models import linear as linear_module
from trustrec.models.linear import LinearModel


def linear(data: Dataset, **params: object) -> LinearModel:
    model = text_model("linear", **params).fit(data)
    assert isinstance(model, LinearModel)
    return model


def some_pairs(data: Dataset, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs, half of them training pairs, plus every item nobody interacted with."""
    rng = np.random.default_rng(1)
    seen = rng.choice(len(data), size=n // 2, replace=False)
    cold = np.flatnonzero(data.item_counts() == 0)
    users = np.concatenate([data.user[seen], rng.integers(0, data.n_users, n // 2 + len(cold))])
    items = np.concatenate([data.item[seen], rng.integers(0, data.n_items, n // 2), cold])
    return users, items


@pytest.fixture
def planted() -> Dataset:
    """The contract's data, here with an item table (overrides the conftest fixture)."""
    return text_data()


class TestLinear(ModelContract):
    model_name = "linear"

    def make(self) -> Recommender:
        return text_model(self.model_name)


class TestLinearImplicit(ModelContract):
    model_name = "linear"

    @pytest.fixture
    def planted(self) -> Dataset:
        return text_data(explicit=False)

    def make(self) -> Recommender:
        return text_model(self.model_name)


@pytest.mark.parametrize("explicit", [True, False])
def test_contributions_add_up_to_predictions(explicit: bool) -> None:
    data = text_data(explicit)
    model = linear(data)
    users, items = some_pairs(data)
    contributions = model.contributions(users, items)
    assert contributions.shape == (len(users), len(model.feature_names))
    np.testing.assert_allclose(contributions.sum(axis=1) + model.intercept,
                               model.predict(users, items), rtol=1e-6)
    explained = model.explain(int(users[0]), int(items[0]))
    sizes = [abs(c) for _, c in explained]
    assert sizes == sorted(sizes, reverse=True)
    assert dict(explained) == dict(zip(model.feature_names, contributions[0], strict=True))


def test_features_of_items_nobody_interacted_with() -> None:
    data = generate(n_users=60, n_items=80, n_interactions=600, seed=2)
    cold = np.flatnonzero(data.item_counts() == 0)
    assert len(cold) > 0
    model = linear(data)
    contributions = model.contributions(np.zeros(len(cold), np.int64), cold)
    assert np.isfinite(contributions).all()
    pop = model.feature_names.index("item_popularity")
    # log(1 + 0) interactions: the contribution is the coefficient times minus the mean
    np.testing.assert_allclose(contributions[:, pop], -model.coef_[pop] * model.feature_means_[pop])


def test_feature_names_are_stable_and_named() -> None:
    data = text_data()
    names = linear(data).feature_names
    assert names == linear(data).feature_names
    assert len(set(names)) == len(names)
    assert names[:6] == ["user_activity", "item_popularity", "user_mean_rating",
                         "item_mean_rating", "user_genre_affinity", "profile_similarity"]
    genres = set(data.items["genres"].str.split("|").explode())
    assert {n.removeprefix("genre:") for n in names if n.startswith("genre:")} == genres
    topics = [n for n in names if n.startswith("topic")]
    assert len(topics) == 8
    # every topic is named after genres and title words of the items
    words = genres | set(" ".join(data.items["title"]).lower().split())
    for topic in topics:
        label = topic.split(":", 1)[1]
        assert label == "misc" or set(label.split(",")) <= words
    implicit_names = linear(text_data(explicit=False)).feature_names
    assert "user_mean_rating" not in implicit_names


def test_save_load_gives_identical_explanations(tmp_path) -> None:
    data = text_data()
    model = linear(data)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, LinearModel)
    users, items = some_pairs(data)
    assert loaded.feature_names == model.feature_names
    assert loaded.intercept == model.intercept
    assert loaded.predicts_ratings
    np.testing.assert_array_equal(loaded.contributions(users, items),
                                  model.contributions(users, items))


@pytest.mark.parametrize("explicit", [True, False])
def test_chunking_changes_nothing(explicit: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    data = text_data(explicit)
    users, items = some_pairs(data)
    whole = linear(data, target="interaction")
    monkeypatch.setattr(linear_module, "PAIR_CHUNK", 37)
    chunked = linear(data, target="interaction")
    np.testing.assert_allclose(chunked.coef_, whole.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(chunked.contributions(users, items),
                               whole.contributions(users, items), rtol=1e-9, atol=1e-12)


def test_predicts_ratings_follows_the_target() -> None:
    assert LinearModel.predicts_ratings is False  # the class promises nothing
    assert linear(text_data()).predicts_ratings
    assert not linear(text_data(), target="interaction").predicts_ratings
    assert not linear(text_data(explicit=False)).predicts_ratings
    with pytest.raises(ModelError, match="explicit"):
        linear(text_data(explicit=False), target="rating")


def test_rating_target_beats_the_global_mean() -> None:
    split = random_holdout(generate(n_users=200, n_items=100, n_interactions=5000, seed=4),
                           test_fraction=0.2, seed=0)
    model = linear(split.train)
    test = split.test
    error = rmse(model.predict(test.user, test.item), test.value)
    baseline = rmse(np.full(len(test), split.train.value.mean()), test.value)
    assert error < 0.85 * baseline


def test_interaction_target_ranks_the_users_topic_first() -> None:
    data = generate(n_users=120, n_items=100, n_interactions=3000, n_topics=4, seed=5,
                    explicit=False)
    model = linear(data)
    genre = main_genre(data)
    favourite = pd.Series(genre[data.item]).groupby(data.user).agg(
        lambda g: g.value_counts().index[0])
    recs = model.recommend(favourite.index.to_numpy(), k=5)
    # the largest topic holds 34 % of the items
    assert (genre[recs.items] == favourite.to_numpy()[:, None]).mean() > 0.55


@pytest.mark.parametrize("params", [{"n_topics": -1}, {"l2": 0}, {"negatives": 0},
                                    {"target": "clicks"}, {"mean_shrinkage": "inf"}])
def test_bad_parameters_raise_config_error(params: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(params))):
        create_model("linear", params)

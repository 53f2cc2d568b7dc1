"""Natural-language search over item text vectors: topics, user blending, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.test_content import encoder, main_genre, text_data, text_model
from trustrec.data.synthetic import TOPICS
from trustrec.errors import ConfigError, ModelError, UnknownIdError
from trustrec.models import Recommender, create_model
from trustrec.models.search import search_external, search_items, search_scores, user_vector
from trustrec.text import TextEncoder


@pytest.fixture(scope="module", params=["content", "linear", "hybrid"])
def model(request: pytest.FixtureRequest) -> Recommender:
    return text_model(request.param).fit(text_data())


def test_topic_words_find_that_topics_items(model: Recommender) -> None:
    data = text_data()
    genres = data.items["genres"].str.split("|").to_numpy()  # topics with weight ≥ 0.2
    for topic in np.unique(main_genre(data)):
        query = " ".join(TOPICS[topic][:6])
        hits = search_items(model, query, k=3, encoder=encoder())
        assert all(topic in genres[i] for i in hits.items), query


def test_user_blending_mixes_in_the_profile(model: Recommender) -> None:
    query = " ".join(TOPICS["Crime"][:6])
    plain = search_scores(model, query, encoder=encoder())
    user = 7
    np.testing.assert_array_equal(
        search_scores(model, query, user=user, user_weight=0.0, encoder=encoder()), plain)
    blended = search_scores(model, query, user=user, user_weight=0.6, encoder=encoder())
    profile = model.item_vectors_ @ user_vector(model, user)
    np.testing.assert_allclose(blended, 0.4 * plain + 0.6 * profile, rtol=1e-5, atol=1e-6)
    first = search_items(model, query, k=10, encoder=encoder())
    mixed = search_items(model, query, k=10, user=user, user_weight=0.6, encoder=encoder())
    assert not np.array_equal(first.items, mixed.items)
    assert profile[mixed.items].mean() > profile[first.items].mean()


def test_user_vector_is_the_models_profile_or_the_history_mean(model: Recommender) -> None:
    profile = user_vector(model, 5)
    if hasattr(model, "user_profiles"):
        np.testing.assert_allclose(profile, model.user_profiles([5])[0], rtol=1e-6)
    else:
        mean = model.item_vectors_[model.seen_[5].indices].mean(axis=0)
        np.testing.assert_allclose(profile, mean / np.linalg.norm(mean), rtol=1e-5)


def test_exclude_seen_drops_the_users_items(model: Recommender) -> None:
    seen = set(model.seen_[3].indices)
    query = " ".join(TOPICS["Sci-Fi"][:6])
    hits = search_items(model, query, k=20, user=3, exclude_seen=True, encoder=encoder())
    assert len(hits.items) == 20 and not set(hits.items) & seen
    assert set(search_items(model, query, k=model.n_items_, user=3,
                            encoder=encoder()).items) >= seen


def test_search_external_gives_ids_and_titles(model: Recommender) -> None:
    data = text_data()
    frame = search_external(model, "dragon wizard kingdom", k=4, user_id="u00003",
                            encoder=encoder())
    assert list(frame.columns) == ["item_id", "title", "rank", "score"]
    assert list(frame["rank"]) == [1, 2, 3, 4]
    titles = data.items.set_index("item_id")["title"]
    assert list(frame["title"]) == list(titles[frame["item_id"]])
    assert frame["score"].is_monotonic_decreasing
    with pytest.raises(UnknownIdError, match="user"):
        search_external(model, "dragon", user_id="nobody", encoder=encoder())


def test_loaded_model_searches_alike(model: Recommender, tmp_path) -> None:
    loaded = Recommender.load(model.save(tmp_path / "m"))
    query = "ghost haunting curse"
    np.testing.assert_array_equal(search_scores(loaded, query, user=2, encoder=encoder()),
                                  search_scores(model, query, user=2, encoder=encoder()))


def test_model_without_text_vectors_is_an_error() -> None:
    popularity = create_model("popularity").fit(text_data())
    with pytest.raises(ModelError, match="no item text vectors"):
        search_items(popularity, "space", encoder=encoder())


def test_query_encoder_must_be_the_items_encoder(model: Recommender) -> None:
    other = TextEncoder(max_seq_length=64)  # other settings, other vectors
    with pytest.raises(ModelError, match="not the encoder"):
        search_items(model, "space", encoder=other)


@pytest.mark.parametrize(("query", "options", "message"), [
    ("  ", {}, "empty"), ("space", {"user_weight": 1.5}, "user_weight"),
    ("space", {"k": 0}, "k must")])
def test_bad_arguments_raise_config_error(model: Recommender, query: str, options: dict,
                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        search_items(model, query, encoder=encoder(), **options)

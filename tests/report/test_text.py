"""The language-model report section: cold-start figures, example searches, rendering."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tests.models.test_content import encoder, text_model
from trustrec.data import Dataset
from trustrec.data.split import cold_item_holdout
from trustrec.data.synthetic import TOPICS, generate
from trustrec.demo.text import demo_text, example_queries, search_table
from trustrec.evaluation.cold_start import cold_start


@functools.cache
def data() -> Dataset:
    return generate(n_users=150, n_items=80, n_interactions=3000, n_topics=4, seed=4)


@pytest.fixture(scope="module")
def result():
    split = cold_item_holdout(data(), 0.25, seed=0)
    return split, cold_start(split, {"content": text_model("content")}, k=5, seed=0)


def test_text_models_rank_cold_items_better_than_random(result) -> None:
    split, res = result
    assert res.n_cold == len(np.unique(split.test.item)) == 20
    assert res.n_users == len(np.unique(split.test.user))
    assert list(res.ndcg) == ["random", "content"]
    assert res.ndcg["content"] > 1.5 * res.ndcg["random"]
    assert res.recall["content"] > res.recall["random"]


def test_random_lists_hold_only_cold_items_and_are_seeded() -> None:
    split = cold_item_holdout(data(), 0.25, seed=0)
    first = cold_start(split, {}, k=5, seed=1)
    assert first == cold_start(split, {}, k=5, seed=1)
    assert first != cold_start(split, {}, k=5, seed=2)


def test_example_queries_prefer_the_datasets_genres() -> None:
    queries = example_queries(data(), n=2)  # four topics: Sci-Fi, Romance, Crime, Fantasy
    assert queries == [" ".join(TOPICS["Sci-Fi"][:4]), " ".join(TOPICS["Crime"][:4])]


def test_search_table_finds_the_querys_topic() -> None:
    model = text_model("content").fit(data())
    found = search_table(model, example_queries(data(), n=2), k=3, encoder=encoder())
    assert list(found.columns) == ["query", "rank", "item_id", "title", "score"]
    genres = data().items.set_index("item_id")["genres"]
    for topic, query in zip(("Sci-Fi", "Crime"), example_queries(data(), n=2), strict=True):
        rows = found[found["query"] == query]
        assert rows["rank"].tolist() == [1, 2, 3]
        assert all(topic in genres[i] for i in rows["item_id"])


def test_demo_section_renders_table_figure_and_searches() -> None:
    html = demo_text(data(), seed=0).render()
    for text in ("random", "content", "hybrid", "NDCG@10", "<img", TOPICS["Sci-Fi"][0]):
        assert text in html

"""Explanations of text models (hybrid, content, linear) with a fast stand-in encoder."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.test_hybrid import BagOfWordsEncoder
from trustrec.data import Dataset, synthetic
from trustrec.explain import explain_external, explanation_fidelity
from trustrec.explain.attribution import history_contributions
from trustrec.models import Recommender, create_model


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthetic.generate(n_users=100, n_items=70, n_interactions=2000, seed=8)


def _fit(name: str, data: Dataset, **params: object) -> Recommender:
    return create_model(name, params, seed=0).use_encoder(BagOfWordsEncoder()).fit(data)


def test_hybrid_contributions_are_exact_and_faithful(data) -> None:
    model = _fit("hybrid", data, l2=20.0, content_blend=0.4)
    for user, item in ((0, 3), (9, 50)):
        _, weights, kind = history_contributions(model, user, item)
        assert kind == "collaborative"
        assert weights.sum() == pytest.approx(model.score([user], [item])[0, 0], rel=1e-4,
                                              abs=1e-5)
    assert explanation_fidelity(model, n_users=30)["rate"] >= 0.8


def test_content_and_linear_kinds_and_titles_from_the_model(data) -> None:
    user_id, item_id = data.user_index.ids[2], data.item_index.ids[4]
    content = explain_external(_fit("content", data), user_id, item_id)
    assert content.kind == "content"
    assert content.text.startswith("Similar to ")
    titles = set(data.items["title"])
    assert all(r["title"] in titles for r in content.reasons if r["type"] == "item")
    linear = _fit("linear", data, n_topics=2)
    explained = explain_external(linear, user_id, item_id, k_reasons=2)
    assert explained.kind == "linear" and len(explained.reasons) == 2
    user, item = 2, 4
    expected = linear.explain(user, item)[:2]
    assert [r["feature"] for r in explained.reasons] == [name for name, _ in expected]
    np.testing.assert_allclose([r["weight"] for r in explained.reasons],
                               [value for _, value in expected])
    assert explained.text.startswith("Because of ")

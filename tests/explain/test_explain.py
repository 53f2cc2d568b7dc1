"""Explanations: exact attributions, the public entry points, errors and fidelity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import planted_frame
from trustrec.data import Dataset, synthetic
from trustrec.errors import UnknownIdError
from trustrec.explain import (
    Explanation,
    ItemInfo,
    explain_external,
    explain_recommendations,
    explanation_fidelity,
)
from trustrec.explain.attribution import history_contributions
from trustrec.models import Recommender, create_model


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthetic.generate(n_users=120, n_items=80, n_interactions=2500, seed=4)


@pytest.fixture(scope="module")
def models(data: Dataset) -> dict[str, Recommender]:
    specs = {"itemknn": {"k": 30}, "ease": {"l2": 30},
             "als": {"factors": 8, "regularization": 1.0, "iterations": 5},
             "bpr": {"factors": 8}, "popularity": {}}
    return {name: create_model(name, params, seed=0).fit(data) for name, params in specs.items()}


@pytest.mark.parametrize("name", ["itemknn", "ease"])
def test_item_item_contributions_add_up_to_the_score(models, name) -> None:
    model = models[name]
    for user, item in ((0, 5), (7, 40), (33, 2)):
        history, weights, kind = history_contributions(model, user, item)
        assert kind == "collaborative"
        np.testing.assert_array_equal(history, model.seen_[user].indices)
        assert weights.sum() == pytest.approx(model.score([user], [item])[0, 0], rel=1e-4,
                                              abs=1e-5)


def test_als_contributions_add_up_to_the_fold_in_score(models) -> None:
    model = models["als"]
    history = model.seen_[3].indices
    _, weights, _ = history_contributions(model, 3, 11)
    assert weights.sum() == pytest.approx(model.score_history(history)[11], rel=1e-3)


def test_explanation_names_the_top_contributors_and_shared_genres(models, data) -> None:
    model = models["ease"]
    info = ItemInfo.from_table(data.items, data.item_index)
    user_id = data.user_index.ids[5]
    recs = explain_recommendations(model, user_id, k=3, items=info)
    assert len(recs) == 3 and all(isinstance(e, Explanation) for e in recs)
    first = recs[0]
    assert first.kind == "collaborative" and first.user_id == user_id
    cited = [r for r in first.reasons if r["type"] == "item"]
    assert 1 <= len(cited) <= 3
    assert [r["weight"] for r in cited] == sorted([r["weight"] for r in cited], reverse=True)
    assert first.text.startswith(f"Because you rated {cited[0]['title']}")
    item = int(data.item_index.lookup([first.item_id])[0])
    user = int(data.user_index.lookup([user_id])[0])
    history, weights, _ = history_contributions(model, user, item)
    top = data.item_index.ids[history[np.argmax(weights)]]
    assert cited[0]["item_id"] == top
    genres = [r["feature"] for r in first.reasons if r["type"] == "genre"]
    item_genres = set(str(data.items["genres"].iloc[item]).split("|"))
    assert genres and set(genres) <= item_genres
    assert first.score == pytest.approx(float(model.score([user], [item])[0, 0]))
    json.dumps(first.to_dict())


def test_factor_popularity_and_cold_users(models, data) -> None:
    user_id, item_id = data.user_index.ids[0], data.item_index.ids[3]
    assert explain_external(models["bpr"], user_id, item_id).kind == "collaborative"
    pop = explain_external(models["popularity"], user_id, item_id)
    assert pop.kind == "popularity"
    assert pop.reasons[0]["weight"] == models["popularity"].item_popularity_[3]
    assert pop.text.startswith("Popular:")
    frame = planted_frame()
    ds = Dataset.from_frame(frame[frame["user_id"] != "u1"],
                            users=frame[["user_id"]].drop_duplicates())  # u1: no history
    cold = explain_external(create_model("itemknn").fit(ds), "u1", "i3")
    assert cold.kind == "popularity"


def test_unknown_ids_are_errors(models, data) -> None:
    with pytest.raises(UnknownIdError, match="unknown user"):
        explain_external(models["ease"], "nobody", data.item_index.ids[0])
    with pytest.raises(UnknownIdError, match="unknown item"):
        explain_external(models["ease"], data.user_index.ids[0], "no-such-item")
    with pytest.raises(UnknownIdError, match="unknown user"):
        explain_recommendations(models["ease"], "nobody")


@pytest.mark.parametrize("name", ["itemknn", "ease", "als"])
def test_removing_the_top_cited_item_matters_most(models, name) -> None:
    result = explanation_fidelity(models[name], n_users=40, seed=0)
    assert result["n"] == 40
    assert result["rate"] >= 0.8


class _CoOccurrence(Recommender):
    """A model known to the explainer only through ``score_history``: ``X_u · C``."""

    name = "test-cooccurrence"

    def _fit(self, dataset: Dataset) -> None:
        self.weights_ = np.asarray((self.seen_.T @ self.seen_).todense(), dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.seen_[users] @ self.weights_)

    def _score_history(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(items, minlength=self.n_items_) @ self.weights_


def test_other_history_models_get_leave_one_out_attributions(data) -> None:
    model = _CoOccurrence().fit(data)
    history, drops, kind = history_contributions(model, 4, 9)
    assert kind == "collaborative"
    np.testing.assert_allclose(drops, model.weights_[history, 9], rtol=1e-5)  # linear: exact
    explained = explain_external(model, data.user_index.ids[4], data.item_index.ids[9])
    assert explained.kind == "collaborative"

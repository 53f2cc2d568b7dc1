"""Contract: every model whose history credits claim to be exact has credits that add up to
its score, for random users and items (the Spark-trained ALS case is in
``tests/engines/test_spark.py``, which has the Spark session)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.models.test_hybrid import BagOfWordsEncoder
from trustrec.data import Dataset, synthetic
from trustrec.explain.attribution import exact_credits, history_contributions
from trustrec.models import Recommender, available_models, create_model, get_model_class

#: Parameter variants per model claiming exact credits (small, fast fits).
CASES: dict[str, list[dict[str, Any]]] = {
    "itemknn": [{"k": 30}],
    "ease": [{"l2": 30}],
    "dp_ease": [{"epsilon": 8}],
    "hybrid": [{"l2": 20.0, "content_blend": 0.25}],
    "als": [{"factors": 8, "regularization": 1.0, "iterations": 5},
            {"factors": 8, "regularization": 1.0, "iterations": 5, "bm25": True},
            {"factors": 6, "regularization": 2.0, "iterations": 4, "implicit": False,
             "alpha": 0.5}],
}
#: What the docs promise exact item credits for.
DOCUMENTED = {"itemknn", "ease", "hybrid", "als"}


def assert_exact_credits(model: Recommender, n_users: int = 15, n_items: int = 4,
                         seed: int = 0) -> None:
    """For ``n_users`` random users with a history and ``n_items`` random items each (seen
    or not), the history credits sum to ``model.score`` of the item."""
    assert exact_credits(model)
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(model.history_lengths > 0)
    for user in rng.choice(pool, size=min(n_users, len(pool)), replace=False).tolist():
        for item in rng.choice(model.n_items_, size=n_items, replace=False).tolist():
            history, credits, _ = history_contributions(model, user, item)
            np.testing.assert_array_equal(history, model.seen_[user].indices)
            score = float(model.score([user], [item])[0, 0])
            assert credits.sum() == pytest.approx(score, rel=1e-4, abs=1e-5), (user, item)


@pytest.fixture(scope="module")
def data() -> Dataset:
    """Explicit ratings 1–5 with an item table (titles, genres, text) for the text models."""
    return synthetic.generate(n_users=90, n_items=60, n_interactions=1800, n_topics=4, seed=8)


def test_every_documented_model_claims_exact_credits_and_has_a_case() -> None:
    claiming = {name for name in available_models() if exact_credits(get_model_class(name))}
    assert DOCUMENTED <= claiming
    assert claiming <= set(CASES), f"add a contract case for {claiming - set(CASES)}"


@pytest.mark.parametrize(("name", "params"), [(n, p) for n, ps in CASES.items() for p in ps])
def test_credits_add_up_to_the_score(data: Dataset, name: str, params: dict) -> None:
    model = create_model(name, params, seed=0)
    if name == "hybrid":
        model.use_encoder(BagOfWordsEncoder())
    assert_exact_credits(model.fit(data))


def test_federated_als_credits_add_up_to_the_score(data: Dataset) -> None:
    pytest.importorskip("flwr")
    from trustrec.privacy.federated import FederatedConfig, train_federated

    model = train_federated(data, FederatedConfig(factors=6, rounds=3, clients=3)).model
    assert_exact_credits(model)


def test_credits_survive_save_and_load(data: Dataset, tmp_path) -> None:
    params = CASES["als"][2]  # implicit=false: the values must travel with the artifact
    model = create_model("als", params, seed=0).fit(data)
    model.save(tmp_path / "m")
    assert_exact_credits(Recommender.load(tmp_path / "m"))

"""``itemknn``: contract, similarity formulas, top-k pruning, neighbours, config errors."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from tests.models.contract import ModelContract
from tests.models.holdout import in_group_hit_rate, item_groups
from trustrec.data import PAD, Dataset
from trustrec.errors import ConfigError
from trustrec.models import create_model
from trustrec.models import itemknn as itemknn_module


class TestItemKnn(ModelContract):
    model_name = "itemknn"


class TestItemKnnCosineOnValues(ModelContract):
    model_name = "itemknn"
    params: ClassVar[dict[str, Any]] = {"similarity": "cosine", "implicit": False, "k": 5,
                                        "shrink": 1.0}


@pytest.fixture
def small() -> Dataset:
    """12 items × 30 users, binary, every item interacted with."""
    rng = np.random.default_rng(3)
    x = rng.random((30, 12)) < 0.3
    x[np.arange(12), np.arange(12)] = True
    u, i = np.nonzero(x)
    return Dataset.from_frame(pd.DataFrame({"user_id": u, "item_id": i}))


def dense_similarity(x: np.ndarray, similarity: str, shrink: float = 0.0, alpha: float = 0.5,
                     k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """The documented formulas on a dense 0/1 matrix, zero where items never co-occur."""
    c = x.T @ x
    n = np.diag(c)
    if similarity == "cosine":
        sim = c / (n[:, None] ** alpha * n[None, :] ** (1 - alpha) + shrink)
    elif similarity == "jaccard":
        sim = c / (n[:, None] + n[None, :] - c + shrink)
    else:
        idf = np.log(x.shape[1]) - np.log1p(x.sum(axis=1))
        length = x.sum(axis=0)
        norm = (1 - b) + b * length / length.mean()
        w = np.where(x > 0, x * (k1 + 1) / (k1 * norm[None, :] + x) * idf[:, None], 0.0)
        sim = w.T @ w
    sim[c == 0] = 0.0
    np.fill_diagonal(sim, 0.0)
    return sim


@pytest.mark.parametrize("params", [
    {"similarity": "cosine"},
    {"similarity": "cosine", "alpha": 0.8, "shrink": 2.0},
    {"similarity": "jaccard", "shrink": 1.0},
    {"similarity": "bm25", "bm25_k1": 1.2, "bm25_b": 0.75},
], ids=lambda p: "-".join(f"{v}" for v in p.values()))
def test_similarity_matches_formula(small: Dataset, params, monkeypatch) -> None:
    monkeypatch.setattr(itemknn_module, "SCORE_BLOCK", 30)  # several item blocks
    model = create_model("itemknn", {**params, "k": small.n_items}).fit(small)
    x = small.csr.toarray()
    kwargs = {"shrink": params.get("shrink", 0.0), "alpha": params.get("alpha", 0.5)}
    expected = dense_similarity(x, params["similarity"], **kwargs)
    np.testing.assert_allclose(model.weights_.toarray(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.score(np.arange(small.n_users)), x @ expected, rtol=1e-5)


def test_keeps_the_k_largest_neighbours_per_item(small: Dataset) -> None:
    model = create_model("itemknn", {"similarity": "cosine", "k": 3}).fit(small)
    s = model.weights_
    expected = dense_similarity(small.csr.toarray(), "cosine")
    assert np.all(np.diff(s.indptr) <= 3)
    for row in range(small.n_items):
        stored = np.sort(s.data[s.indptr[row]:s.indptr[row + 1]])
        top = np.sort(expected[row][expected[row] > 0])[-3:]
        np.testing.assert_allclose(stored, top, rtol=1e-6)


def test_neighbours_come_from_the_items_own_group(planted: Dataset) -> None:
    groups = item_groups(planted)
    for similarity in ("cosine", "bm25", "jaccard"):
        model = create_model("itemknn", {"similarity": similarity}).fit(planted)
        items, _ = model.similar_items(np.arange(planted.n_items), k=5)
        assert np.mean(groups[items] == groups[:, None]) >= 0.8, similarity


def test_similar_items_exclude_self_sorted_and_padded(small: Dataset) -> None:
    model = create_model("itemknn", {"similarity": "jaccard", "k": 3}).fit(small)
    items = np.arange(small.n_items)
    neighbours, scores = model.similar_items(items, k=5)
    assert neighbours.shape == scores.shape == (small.n_items, 5)
    assert not np.any(neighbours == items[:, None])
    assert np.all(np.diff(scores[:, :3], axis=1) <= 0)
    assert np.all(neighbours[:, 3:] == PAD) and np.all(scores[:, 3:] == -np.inf)
    expected = dense_similarity(small.csr.toarray(), "jaccard")
    np.testing.assert_allclose(scores[:, 0], expected.max(axis=1), rtol=1e-6)


def test_beats_popularity_on_held_out_in_group_items() -> None:
    pop = in_group_hit_rate("popularity")
    for similarity in ("bm25", "cosine"):
        assert in_group_hit_rate("itemknn", {"similarity": similarity}) >= max(0.8, pop + 0.5)


@pytest.mark.parametrize(("key", "value"), [("k", 0), ("shrink", -1.0), ("alpha", 1.5),
                                            ("bm25_k1", -0.5), ("bm25_b", 2.0),
                                            ("similarity", "pearson")])
def test_invalid_parameters_name_the_parameter(key, value) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        create_model("itemknn", {key: value})

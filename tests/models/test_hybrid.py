"""``hybrid``: contract, closed forms, cold items, quality on planted topics, persistence."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.data.split import cold_item_holdout, random_holdout
from trustrec.data.synthetic import generate
from trustrec.errors import ConfigError, ModelError
from trustrec.evaluation import evaluate_ranking, ranking_metrics
from trustrec.models import Recommender, create_model
from trustrec.models import ease as ease_module
from trustrec.models import hybrid as hybrid_module
from trustrec.models.item_features import NO_LABEL, label_matrix

PARAMS: dict[str, Any] = {"l2": 20.0, "feature_weight": 1.0, "content_l2": 30.0,
                          "content_blend": 0.25}


class BagOfWordsEncoder:
    """A deterministic stand-in for ``TextEncoder``: word counts of the item text through a
    fixed random projection, unit rows (no model download, milliseconds)."""

    model_id = "test-bag-of-words"

    def encode_items(self, dataset: Dataset, fields: list[str] | None = None) -> np.ndarray:
        words = dataset.items["text"].str.lower().str.replace(r"[^a-z ]", "", regex=True)
        counts = words.str.get_dummies(sep=" ").to_numpy(np.float64)
        projection = np.random.default_rng(0).normal(size=(counts.shape[1], 24))
        vectors = counts @ projection
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def synthetic(seed: int = 0, n_users: int = 200, n_items: int = 120) -> Dataset:
    """Implicit synthetic data with planted topics, titles, genres and topic-word text."""
    return generate(n_users=n_users, n_items=n_items, density=0.1, n_topics=4, seed=seed,
                    explicit=False)


def hybrid(**params: Any) -> Recommender:
    return create_model("hybrid", {**PARAMS, **params}).use_encoder(BagOfWordsEncoder())


class TestHybrid(ModelContract):
    model_name = "hybrid"
    params: ClassVar[dict[str, Any]] = PARAMS

    @pytest.fixture
    def planted(self) -> Dataset:  # the contract's data, here with an item table
        return synthetic(n_users=60, n_items=40)

    def make(self) -> Recommender:
        return super().make().use_encoder(BagOfWordsEncoder())


@pytest.fixture(scope="module")
def cold_split():
    """Synthetic data with 25 % of the items (all their interactions) held out."""
    return cold_item_holdout(synthetic(), item_fraction=0.25, seed=0)


@pytest.fixture(scope="module")
def cold_fitted(cold_split) -> Recommender:
    return hybrid().fit(cold_split.train)


def cold_items_of(split) -> np.ndarray:
    return np.flatnonzero((split.train.item_counts() == 0) & (split.test.item_counts() > 0))


def cold_ndcg(lists: np.ndarray, split) -> float:
    relevant = split.test.csr[np.unique(split.test.user)]
    return float(np.nanmean(ranking_metrics(lists, relevant, 10)["ndcg@10"]))


def test_cold_items_get_sensible_scores_and_candidates_hold(cold_fitted, cold_split) -> None:
    cold = cold_items_of(cold_split)
    users = np.unique(cold_split.test.user)
    scores = cold_fitted.score(users, cold)
    assert np.isfinite(scores).all()
    assert (scores.std(axis=1) > 0).all()  # cold items are told apart, per user
    recs = cold_fitted.recommend(users, k=10, candidates=cold)
    assert np.isin(recs.items, cold).all()


def test_cold_items_beat_random_on_planted_topics(cold_fitted, cold_split) -> None:
    cold = cold_items_of(cold_split)
    users = np.unique(cold_split.test.user)
    model = cold_ndcg(cold_fitted.recommend(users, k=10, candidates=cold).items, cold_split)
    rng = np.random.default_rng(0)
    chance = np.mean([cold_ndcg(np.stack([rng.permutation(cold)[:10] for _ in users]),
                                cold_split) for _ in range(20)])
    assert model > 1.5 * chance


def test_warm_beats_popularity_on_planted_topics() -> None:
    split = random_holdout(synthetic(seed=1), test_fraction=0.2, seed=0)
    ours = evaluate_ranking(hybrid().fit(split.train), split.train, split.test, n_boot=10)
    pop = create_model("popularity").fit(split.train)
    base = evaluate_ranking(pop, split.train, split.test, n_boot=10)
    assert ours.metrics["ndcg@10"] > base.metrics["ndcg@10"] + 0.02


def test_loaded_model_scores_cold_items_without_encoder(cold_fitted, tmp_path,
                                                        monkeypatch) -> None:
    path = cold_fitted.save(tmp_path / "m")
    monkeypatch.setattr(hybrid_module.Hybrid, "text_encoder",
                        lambda self: pytest.fail("a loaded model must not encode text"))
    loaded = Recommender.load(path)
    users = np.arange(cold_fitted.n_users_)
    np.testing.assert_array_equal(loaded.score(users), cold_fitted.score(users))
    np.testing.assert_array_equal(loaded.item_vectors_, cold_fitted.item_vectors_)


def test_weights_match_numpy_closed_form(monkeypatch) -> None:
    monkeypatch.setattr(ease_module, "SCORE_BLOCK", 20)  # several row blocks in gram()
    monkeypatch.setattr(hybrid_module, "SCORE_BLOCK", 20)
    rng = np.random.default_rng(0)
    for n_users, n_items, n_features in [(30, 12, 5), (6, 25, 4)]:  # item space, Woodbury
        x = (rng.random((n_users, n_items)) < 0.4).astype(np.float32)
        feats = rng.normal(size=(n_items, n_features)).astype(np.float32)
        alpha, l2, dropout = 2.0, 3.0, 0.3
        g = x.T.astype(np.float64) @ x + alpha * feats.astype(np.float64) @ feats.T
        p = np.linalg.inv(g + np.diag(l2 + dropout / (1 - dropout) * np.diag(g)))
        expected = -p / np.diag(p)
        np.fill_diagonal(expected, 0.0)
        got = hybrid_module.cease_weights(sp.csr_matrix(x), feats, alpha, l2, dropout)
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-5)
        warm = feats[x.sum(axis=0) > 0].astype(np.float64)
        np.testing.assert_allclose(
            hybrid_module.content_weights(sp.csr_matrix(x), feats, 0.5),
            np.linalg.inv(warm.T @ warm + 0.5 * np.eye(n_features)), rtol=1e-6, atol=1e-9)


def test_without_features_it_is_ease() -> None:
    split = random_holdout(synthetic(), test_fraction=0.2, seed=0)
    ours = hybrid(feature_weight=0.0, content_blend=0.0).fit(split.train)
    ease = create_model("ease", {"l2": PARAMS["l2"], "dropout": 0.2}).fit(split.train)
    users = np.arange(split.train.n_users)
    np.testing.assert_allclose(ours.score(users), ease.score(users), rtol=1e-4, atol=1e-5)


def test_label_matrix_keeps_shared_labels_and_marks_unlabelled_rows() -> None:
    values = pd.Series(["Drama|Comedy", "Comedy", "", "Noir", "comedy|Drama|Drama"])
    matrix, names = label_matrix(values, "|", min_items=2, lowercase=True)
    assert names == ["drama", "comedy", NO_LABEL]  # "noir" is on one item only: dropped
    half = 2**-0.5
    np.testing.assert_allclose(matrix, [[half, half, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0],
                                        [half, half, 0]])


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="content_blend"):
        create_model("hybrid", {"content_blend": 1.5})
    with pytest.raises(ConfigError, match="feature_weight"):
        create_model("hybrid", {"feature_weight": -1})
    data = synthetic(n_users=40, n_items=30)
    with pytest.raises(ModelError, match="'studio'"):
        hybrid(attributes="genres, studio").fit(data)
    bare = Dataset.from_frame(data.to_frame())
    with pytest.raises(ModelError, match="item table"):
        hybrid().fit(bare)


def test_real_text_encoder_end_to_end() -> None:
    pytest.importorskip("trustrec.text.encoder", reason="trustrec.text not available")
    split = cold_item_holdout(synthetic(n_users=80, n_items=40), item_fraction=0.25, seed=0)
    model = create_model("hybrid", PARAMS).fit(split.train)
    assert model.item_vectors_.shape[0] == split.train.n_items
    cold = cold_items_of(split)
    recs = model.recommend(np.unique(split.test.user), k=5, candidates=cold)
    assert np.isin(recs.items, cold).all()


def test_few_users_save_the_woodbury_factor_instead_of_b(tmp_path) -> None:
    # 40 users + ~30 feature rows < 300 items: B (300²) is rebuilt exactly from Z (m × 300)
    data = synthetic(n_users=40, n_items=300)
    model = hybrid().fit(data)
    assert model.factor_ is not None
    path = model.save(tmp_path / "m")
    arrays = json.loads((path / "manifest.json").read_text())["arrays"]
    assert "state.B" not in arrays and (path / arrays["state.Z"]["file"]).is_file()
    z = np.load(path / arrays["state.Z"]["file"])
    assert z.size < 300 * 300 / 2
    loaded = Recommender.load(path)
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    # more users than items: B itself is stored, as before
    dense = hybrid().fit(synthetic(n_users=200, n_items=40))
    assert dense.factor_ is None and "state.B" in json.loads(
        (dense.save(tmp_path / "d") / "manifest.json").read_text())["arrays"]

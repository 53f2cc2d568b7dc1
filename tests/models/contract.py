"""The contract every ``Recommender`` honours. A model's test class inherits ``ModelContract``
and sets ``model_name`` (and optionally ``params``); it then gets all of these tests."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from trustrec.data import PAD, Dataset
from trustrec.errors import ArtifactError, ModelError
from trustrec.models import Recommender, create_model


class ModelContract:
    """Contract tests: top-K shape and order, seen-item exclusion, candidates, save/load."""

    model_name: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    #: Whether scoring a user's training history at call time equals scoring the trained
    #: user (false for approximations such as a least-squares fold-in).
    history_exact: ClassVar[bool] = True
    #: Whether two fits with one seed give the same model (false for DP models, whose noise
    #: comes from the OS CSPRNG and must never repeat).
    deterministic: ClassVar[bool] = True

    def make(self) -> Recommender:
        return create_model(self.model_name, self.params, seed=0)

    @pytest.fixture
    def fitted(self, planted: Dataset) -> Recommender:
        return self.make().fit(planted)

    def test_unfitted_use_is_an_error(self) -> None:
        with pytest.raises(ModelError, match="not fitted"):
            self.make().recommend([0], k=3)

    def test_recommend_shape_sorted_and_unseen(self, fitted: Recommender,
                                               planted: Dataset) -> None:
        users = np.arange(planted.n_users)
        recs = fitted.recommend(users, k=5)
        assert recs.items.shape == (planted.n_users, 5)
        assert np.all(recs.items != PAD)
        assert np.all(np.diff(recs.scores, axis=1) <= 0)
        seen = planted.csr
        for row, u in enumerate(users):
            assert not set(recs.items[row]) & set(seen[u].indices)
            assert len(set(recs.items[row])) == 5

    def test_include_seen_and_candidates(self, fitted: Recommender) -> None:
        cands = np.array([1, 3, 5, 7])
        recs = fitted.recommend([0, 1], k=3, exclude_seen=False, candidates=cands)
        assert set(recs.items.ravel()) <= set(cands)

    def test_score_matches_recommend(self, fitted: Recommender) -> None:
        scores = fitted.score([2])
        recs = fitted.recommend([2], k=4, exclude_seen=False)
        np.testing.assert_allclose(recs.scores[0], np.sort(scores[0])[::-1][:4], rtol=1e-6)

    def test_fit_is_deterministic(self, planted: Dataset) -> None:
        a = self.make().fit(planted).score([0, 1, 2])
        b = self.make().fit(planted).score([0, 1, 2])
        if self.deterministic:
            np.testing.assert_array_equal(a, b)
        else:
            assert not np.array_equal(a, b)

    def test_save_load_round_trip(self, fitted: Recommender, planted: Dataset,
                                  tmp_path) -> None:
        fitted.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(fitted)
        assert loaded.config == fitted.config
        if not type(fitted).stores_training_users:  # a DP release: histories come at call time
            assert loaded.n_users_ == 0 and not list((tmp_path / "m").glob("*user*"))
            assert not list((tmp_path / "m").glob("seen*"))
            for row in planted.csr[:10]:
                np.testing.assert_array_equal(loaded.score_history(row.indices),
                                              fitted.score_history(row.indices))
            return
        users = np.arange(fitted.n_users_)
        np.testing.assert_array_equal(loaded.score(users), fitted.score(users))
        a, b = fitted.recommend(users, k=5), loaded.recommend(users, k=5)
        np.testing.assert_array_equal(a.items, b.items)
        assert loaded.user_index_ == fitted.user_index_

    def test_tampered_artifact_is_refused(self, fitted: Recommender, tmp_path) -> None:
        path = fitted.save(tmp_path / "m")
        victim = sorted(path.glob("state.*.npy"))[0]
        data = bytearray(victim.read_bytes())
        data[-1] ^= 0xFF
        victim.write_bytes(bytes(data))
        with pytest.raises(ArtifactError, match="SHA-256"):
            Recommender.load(path)

    def test_predict_pairs_align_with_score(self, fitted: Recommender) -> None:
        users = np.array([0, 0, 3, 5])
        items = np.array([1, 2, 3, 4])
        pred = fitted.predict(users, items)
        full = fitted.score(users)
        np.testing.assert_allclose(pred, full[np.arange(4), items], rtol=1e-5, atol=1e-6)

    def test_recommend_from_a_given_history(self, fitted: Recommender,
                                            planted: Dataset) -> None:
        user = 4
        row = planted.csr[user]
        if type(fitted)._score_history is Recommender._score_history:
            with pytest.raises(ModelError, match="given history"):
                fitted.recommend_history(row.indices, k=5)
            return
        values = row.data.astype(np.float32)
        scores = fitted.score_history(row.indices, values)
        assert scores.shape == (planted.n_items,)
        if self.history_exact:
            np.testing.assert_allclose(scores, fitted.score([user])[0], rtol=1e-4, atol=1e-5)
        items, top = fitted.recommend_history(row.indices, k=5, values=values)
        assert not set(items) & set(row.indices)
        assert np.all(np.diff(top) <= 0)
        trained = fitted.recommend([user], k=5).items[0]
        assert len(set(items) & set(trained)) >= (5 if self.history_exact else 2)

from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight as implicit_bm25

from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.errors import ConfigError, ModelError
from trustrec.models import Recommender, create_model
from trustrec.models.als import bm25_idf, bm25_weight

#: Small and fast, with a penalty suited to the 60-user fixture (the default suits MovieLens).
SMALL = {"factors": 4, "iterations": 10, "regularization": 1.0, "threads": 1}


def held_out_hit_rate(planted: Dataset, name: str, params: dict, k: int = 3) -> float:
    """Share of users whose one held-out liked (in-group) item is in their top ``k``.

    One liked item (rating ≥ 4) per user, drawn with seed 0, is held out; the model is fit on
    the rest. Shared with the other factor models' tests.
    """
    liked = np.random.default_rng(0).permutation(np.flatnonzero(planted.value >= 4))
    _, first = np.unique(planted.user[liked], return_index=True)
    held_out = np.zeros(len(planted), dtype=bool)
    held_out[liked[first]] = True
    model = create_model(name, params, seed=0).fit(planted.filter(~held_out))
    recs = model.recommend(planted.user[held_out], k=k)
    return float(np.mean((recs.items == planted.item[held_out][:, None]).any(axis=1)))


class TestAls(ModelContract):
    history_exact = False  # fold-in solves against the final item factors
    model_name = "als"
    params = SMALL


class TestAlsBm25Values(ModelContract):
    history_exact = False
    model_name = "als"
    params: ClassVar[dict[str, Any]] = {**SMALL, "bm25": True, "implicit": False, "alpha": 2.0}


def test_als_beats_popularity_on_held_out_group_items(planted: Dataset) -> None:
    popularity = held_out_hit_rate(planted, "popularity", {})
    als = held_out_hit_rate(planted, "als", SMALL)
    assert als >= popularity + 0.4, (als, popularity)


def test_als_is_deterministic_across_thread_counts(planted: Dataset) -> None:
    one = create_model("als", {**SMALL, "threads": 1}, seed=3).fit(planted)
    two = create_model("als", {**SMALL, "threads": 2}, seed=3).fit(planted)
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    other = create_model("als", SMALL, seed=4).fit(planted)
    assert not np.array_equal(one.item_factors_, other.item_factors_)


@pytest.mark.parametrize("params", [{}, {"bm25": True}, {"implicit": False, "alpha": 0.5}])
def test_fold_in_of_a_training_history_is_its_trained_vector(
        planted: Dataset, params: dict) -> None:
    """The fit ends with an exact user step, so a user scored by index and the same user
    folded in from its history get the same vector (and explanations add up)."""
    model = create_model("als", {**SMALL, "iterations": 3, **params}).fit(planted)
    x = planted.csr
    for u in range(0, planted.n_users, 7):
        folded = model.fold_in(x[u].indices, x[u].data)
        assert folded.dtype == np.float32 and folded.shape == (4,)
        np.testing.assert_allclose(folded, model.user_factors_[u], rtol=1e-4, atol=1e-5)


def test_fold_in_is_implicits_exact_user_solve(planted: Dataset) -> None:
    model = create_model("als", {**SMALL, "alpha": 3.0}).fit(planted)
    solver = AlternatingLeastSquares(factors=4, regularization=SMALL["regularization"])
    solver.user_factors, solver.item_factors = model.user_factors_, model.item_factors_
    row = model.seen_[[5]].copy()
    row.data = 1.0 + 3.0 * row.data
    expected = solver.recalculate_user(5, row)
    np.testing.assert_allclose(model.fold_in(row.indices), expected, rtol=1e-4, atol=1e-5)


def test_fold_in_sums_repeats_and_survives_save_load(planted: Dataset, tmp_path) -> None:
    model = create_model("als", {**SMALL, "bm25": True, "implicit": False}).fit(planted)
    once = model.fold_in(np.array([1, 2]), np.array([4.0, 2.0]))
    split = model.fold_in(np.array([2, 1, 2]), np.array([1.0, 4.0, 1.0]))
    np.testing.assert_allclose(once, split, rtol=1e-6)
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.fold_in(np.array([1, 2]), np.array([4.0, 2.0])), once)
    assert not np.any(model.fold_in(np.array([], dtype=np.int32), np.array([])))


def test_fold_in_rejects_bad_input(planted: Dataset) -> None:
    binary = create_model("als", SMALL).fit(planted)
    valued = create_model("als", {**SMALL, "implicit": False}).fit(planted)
    with pytest.raises(ModelError, match="out of range"):
        binary.fold_in(np.array([planted.n_items]))
    with pytest.raises(ModelError, match="one per history item"):
        binary.fold_in(np.array([1, 2]), np.array([1.0]))
    with pytest.raises(ModelError, match="needs values"):
        valued.fold_in(np.array([1, 2]))
    with pytest.raises(ModelError, match="≥ 0"):
        valued.fold_in(np.array([1, 2]), np.array([1.0, -1.0]))


def test_bm25_weight_matches_implicit(planted: Dataset) -> None:
    for x in (planted.csr, create_model("als", SMALL).fit(planted).seen_):
        ours = bm25_weight(x, bm25_idf(x), float(x.sum(axis=1).mean()), k1=100.0, b=0.8)
        np.testing.assert_allclose(ours.toarray(), implicit_bm25(x, K1=100, B=0.8).toarray(),
                                   rtol=1e-5, atol=1e-6)


def test_bm25_idf_is_never_negative() -> None:
    x = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [1, 0]], dtype=np.float32))
    np.testing.assert_allclose(bm25_idf(x), [0.0, np.log(4) - np.log(2)])


def test_negative_values_are_refused_unless_binarised(planted: Dataset) -> None:
    shifted = planted.with_interactions(planted.user, planted.item, planted.value - 3.0)
    create_model("als", SMALL).fit(shifted)
    with pytest.raises(ModelError, match="negative values"):
        create_model("als", {**SMALL, "implicit": False}).fit(shifted)


@pytest.mark.parametrize("key,value", [("factors", 0), ("regularization", 0.0),
                                       ("alpha", -1.0), ("iterations", 0), ("threads", -1),
                                       ("bm25_b", 1.5), ("bm25_k1", float("nan")),
                                       ("seed", -1)])
def test_invalid_params_name_the_parameter(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        create_model("als", {key: value})

import numpy as np
import pytest
from implicit.cpu.bpr import BayesianPersonalizedRanking

from tests.models.contract import ModelContract
from tests.models.test_als import held_out_hit_rate
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import create_model

#: Small and fast, with a step size suited to the 60-user fixture.
SMALL = {"factors": 4, "iterations": 50, "learning_rate": 0.05, "regularization": 0.01,
         "threads": 1}


class TestBpr(ModelContract):
    model_name = "bpr"
    params = SMALL


def test_bpr_beats_popularity_on_held_out_group_items(planted: Dataset) -> None:
    popularity = held_out_hit_rate(planted, "popularity", {})
    bpr = held_out_hit_rate(planted, "bpr", SMALL)
    assert bpr >= popularity + 0.4, (bpr, popularity)


def test_scores_equal_implicits_with_its_bias_column(planted: Dataset) -> None:
    model = create_model("bpr", SMALL, seed=5).fit(planted)
    solver = BayesianPersonalizedRanking(factors=4, learning_rate=0.05, regularization=0.01,
                                         iterations=50, num_threads=1, random_state=5)
    solver.fit(model.seen_, show_progress=False)
    assert solver.item_factors.shape == (planted.n_items, 5)
    np.testing.assert_allclose(model.item_bias_, solver.item_factors[:, 4])
    users = np.arange(planted.n_users)
    np.testing.assert_allclose(model.score(users), solver.user_factors @ solver.item_factors.T,
                               rtol=1e-5, atol=1e-6)


def test_seed_changes_the_fit_and_values_are_ignored(planted: Dataset) -> None:
    base = create_model("bpr", SMALL, seed=0).fit(planted)
    reseeded = create_model("bpr", SMALL, seed=1).fit(planted)
    assert not np.array_equal(base.item_factors_, reseeded.item_factors_)
    doubled = planted.with_interactions(planted.user, planted.item, 2.0 * planted.value)
    again = create_model("bpr", SMALL, seed=0).fit(doubled)
    np.testing.assert_array_equal(base.score([0, 1]), again.score([0, 1]))


def test_deterministic_ignores_threads(planted: Dataset) -> None:
    one = create_model("bpr", {**SMALL, "threads": 1}).fit(planted)
    two = create_model("bpr", {**SMALL, "threads": 2}).fit(planted)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)


@pytest.mark.parametrize("key,value", [("factors", 0), ("learning_rate", 0.0),
                                       ("regularization", -0.1), ("iterations", 0),
                                       ("threads", -1), ("seed", -1)])
def test_invalid_params_name_the_parameter(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        create_model("bpr", {key: value})

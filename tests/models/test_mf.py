import numpy as np
import pytest

from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import create_model

FAST = {"factors": 4, "samples": 40, "burn_in": 3}


class TestMF(ModelContract):
    model_name = "mf"
    params = FAST


def _holdout(data: Dataset, seed: int = 0) -> tuple[Dataset, Dataset]:
    """One random rating of every user held out."""
    perm = np.random.default_rng(seed).permutation(len(data))
    _, first = np.unique(data.user[perm], return_index=True)
    test = np.zeros(len(data), dtype=bool)
    test[perm[first]] = True
    return data.filter(~test), data.filter(test)


def _rmse(model, test: Dataset) -> float:
    return float(np.sqrt(np.mean((model.predict(test.user, test.item) - test.value) ** 2)))


def test_beats_baseline_on_held_out_ratings(planted: Dataset) -> None:
    train, test = _holdout(planted)
    mf = create_model("mf", FAST, seed=0).fit(train)
    baseline = create_model("baseline").fit(train)
    # the planted taste groups are invisible to biases alone
    assert _rmse(mf, test) < 0.75 * _rmse(baseline, test)


def test_predictions_stay_on_the_rating_scale(planted: Dataset) -> None:
    model = create_model("mf", FAST, seed=0).fit(planted)
    scores = model.score(np.arange(planted.n_users))
    assert scores.min() >= 1.0 and scores.max() <= 5.0
    assert scores.max() == 5.0  # some estimates reach past 5 and are clipped


def test_seed_matters_and_unrated_items_get_biases_only(planted: Dataset) -> None:
    train = planted.filter(planted.item != 0)  # item 0 keeps its index but has no ratings
    a = create_model("mf", FAST, seed=0).fit(train)
    b = create_model("mf", FAST, seed=1).fit(train)
    assert not np.array_equal(a.item_factors_, b.item_factors_)
    assert a.item_bias_[0] == 0 and not a.item_factors_[0].any()
    users = np.arange(4)
    np.testing.assert_allclose(a.predict(users, np.zeros(4, dtype=int)),
                               np.clip(a.mu_ + a.user_bias_[users], 1, 5), rtol=1e-6)


@pytest.mark.parametrize("params", [{"factors": 0}, {"samples": 0}, {"burn_in": -1},
                                    {"init_std": 0.0}, {"factors": "ten"}, {"lr": 0.01}])
def test_bad_parameters_raise_config_error(params: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(params))):
        create_model("mf", params)

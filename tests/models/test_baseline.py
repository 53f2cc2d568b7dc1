from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import create_model


class TestBaseline(ModelContract):
    model_name = "baseline"


def _frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


def test_one_round_matches_hand_computation() -> None:
    data = Dataset.from_frame(_frame([("a", "x", 4), ("a", "y", 2), ("b", "x", 5)]))
    model = create_model("baseline", {"reg_user": 1, "reg_item": 1, "iterations": 1}).fit(data)
    # μ = 11/3; items first: b_x = (4−μ + 5−μ)/(1+2), b_y = (2−μ)/(1+1);
    # then users: b_a = (4−μ−b_x + 2−μ−b_y)/(1+2), b_b = (5−μ−b_x)/(1+1)
    mu = Fraction(11, 3)
    b_x, b_y = (9 - 2 * mu) / 3, (2 - mu) / 2
    b_a, b_b = (6 - 2 * mu - b_x - b_y) / 3, (5 - mu - b_x) / 2
    assert (b_x, b_y, b_a, b_b) == (Fraction(5, 9), Fraction(-5, 6), Fraction(-19, 54),
                                    Fraction(7, 18))
    users, items = data.user_index.lookup(["a", "b"]), data.item_index.lookup(["x", "y"])
    np.testing.assert_allclose(model.item_bias_[items], [float(b_x), float(b_y)], rtol=1e-6)
    np.testing.assert_allclose(model.user_bias_[users], [float(b_a), float(b_b)], rtol=1e-6)
    np.testing.assert_allclose(model.predict(users, items[[1, 1]]),
                               [float(mu + b_a + b_y), float(mu + b_b + b_y)], rtol=1e-6)


def test_predictions_are_clipped_to_the_rating_scale() -> None:
    # unregularised, the additive fit is exact: r̂(a, x) = 4 + (b_a − b_b) = 4 + 2 = 6
    frame = _frame([("a", "y", 4), ("b", "x", 4), ("b", "y", 2)])
    params = {"reg_user": 0, "reg_item": 0, "iterations": 200}
    data = Dataset.from_frame(frame, rating_scale=(1.0, 5.0))
    declared = create_model("baseline", params).fit(data)
    observed = create_model("baseline", params).fit(Dataset.from_frame(frame))
    (a, b), (x, y) = data.user_index.lookup(["a", "b"]), data.item_index.lookup(["x", "y"])
    np.testing.assert_allclose(declared.predict([a, b, b], [y, x, y]), [4, 4, 2], atol=1e-4)
    assert declared.predict([a], [x])[0] == 5.0
    assert observed.predict([a], [x])[0] == 4.0  # no declared scale: training max
    assert declared.score([a]).max() == 5.0


@pytest.mark.parametrize("params", [{"reg_user": -1}, {"reg_item": -0.5}, {"iterations": 0},
                                    {"iterations": "many"}, {"lr": 0.1}])
def test_bad_parameters_raise_config_error(params: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(params))):
        create_model("baseline", params)

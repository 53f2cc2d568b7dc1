"""Rating models predict pairs with an unseen user or item as Surprise does.

Surprise's documented rule (``BaselineOnly`` and ``SVD``, ``biased=True``): the estimate is
``μ + b_u + b_i + q_i·p_u`` where an unknown user's (item's) bias is zero and the factor term
needs both; it is clipped to the rating scale. Checked here against that formula written out
independently, with the biases and factors the model learned.
"""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.data import Dataset
from trustrec.models import create_model
from trustrec.models.external import predict_external

SPECS = {"baseline": {}, "mf": {"factors": 4, "samples": 40, "burn_in": 3}}


def _surprise_estimate(model, user: int | None, item: int | None) -> float:
    """Surprise's estimate for user/item indices, None for an unknown one."""
    est = float(model.mu_)
    if user is not None:
        est += float(model.user_bias_[user])
    if item is not None:
        est += float(model.item_bias_[item])
    if user is not None and item is not None and hasattr(model, "user_factors_"):
        est += float(model.user_factors_[user] @ model.item_factors_[item])
    return float(np.clip(est, *model.bounds_))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_unknown_ids_get_the_known_biases(planted: Dataset, name: str) -> None:
    model = create_model(name, SPECS[name], seed=0).fit(planted)
    users, items = ["u3", "u3", "nobody", "nobody", "u7"], ["i5", "no-item", "i5", "no-item",
                                                            "i9"]
    result = predict_external(model, users, items)
    u = {"u3": 3, "u7": 7}
    expected = [_surprise_estimate(model, int(planted.user_index.lookup([uid])[0])
                                   if uid in u else None,
                                   int(planted.item_index.lookup([iid])[0])
                                   if iid != "no-item" else None)
                for uid, iid in zip(users, items, strict=True)]
    np.testing.assert_allclose(result.prediction, expected, rtol=1e-5)
    assert result.n_unknown == 3
    b_u = float(model.user_bias_[planted.user_index.lookup(["u3"])[0]])
    assert abs(b_u) > 1e-3  # the user bias matters: dropping it would fail above
    assert result.prediction[1] != pytest.approx(model.train_mean_, abs=1e-4)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_an_item_without_training_ratings_gets_the_user_bias(planted: Dataset,
                                                             name: str) -> None:
    train = planted.filter(planted.item != 0)  # item 0 keeps its index but has no ratings
    model = create_model(name, SPECS[name], seed=0).fit(train)
    users = np.arange(6)
    expected = [_surprise_estimate(model, int(u), None) for u in users]
    np.testing.assert_allclose(model.predict(users, np.zeros(6, dtype=int)), expected,
                               rtol=1e-5)

"""forget_users: exact removal, verified against retraining without the users."""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.data import Dataset
from trustrec.errors import DataError, ModelError, UnknownIdError
from trustrec.models import create_model
from trustrec.privacy.unlearning import forget_users, without_users

FORGET = ["u3", "u10", "u41"]
EXACT = [
    ("ease", {"l2": 5.0}, "ease-woodbury-downdate"),
    ("ease", {"l2": 5.0, "dropout": 0.0, "zero_diagonal": False}, "ease-woodbury-downdate"),
    ("ease", {"l2": 5.0, "implicit": False}, "ease-woodbury-downdate"),
    ("itemknn", {"k": 10}, "refit"),
    ("popularity", {}, "refit"),
    ("als", {"factors": 8, "regularization": 1.0, "iterations": 5, "threads": 1}, "refit"),
]


@pytest.mark.parametrize(("name", "params", "method"), EXACT)
def test_forgetting_equals_retraining_without_the_users(planted: Dataset, name, params,
                                                        method) -> None:
    model = create_model(name, params, seed=0).fit(planted)
    new, report = forget_users(model, FORGET)
    retrained = create_model(name, params, seed=0).fit(
        without_users(planted, planted.user_index.lookup(FORGET)))
    assert report.method == method
    assert (report.users_removed, report.interactions_removed) == (3, 30)
    assert new.user_index_ == retrained.user_index_
    assert not set(FORGET) & set(new.user_index_.ids)
    users = np.arange(new.n_users_)
    np.testing.assert_allclose(new.score(users), retrained.score(users), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(new.seen_.toarray(), retrained.seen_.toarray())


def test_verify_reports_agreement_and_original_is_untouched(planted: Dataset) -> None:
    model = create_model("ease", {"l2": 5.0}).fit(planted)
    before = model.score([0, 1])
    new, report = forget_users(model, ["u0"], verify=True)
    assert report.verified and report.max_abs_diff < 1e-4
    np.testing.assert_array_equal(model.score([0, 1]), before)
    assert new.n_users_ == model.n_users_ - 1


def test_models_without_stored_inputs_need_the_dataset(planted: Dataset) -> None:
    model = create_model("mf", {"factors": 4, "samples": 5, "burn_in": 2}, seed=0).fit(planted)
    with pytest.raises(ModelError, match="pass the training dataset"):
        forget_users(model, ["u1"])
    new, report = forget_users(model, ["u1"], dataset=planted)
    assert report.users_removed == 1 and "u1" not in new.user_index_
    with pytest.raises(DataError, match="fingerprints differ"):
        forget_users(model, ["u1"], dataset=planted.filter(planted.user != 5))


def test_unknown_user_is_an_error(planted: Dataset) -> None:
    model = create_model("popularity").fit(planted)
    with pytest.raises(UnknownIdError):
        forget_users(model, ["nobody"])


def test_forgetting_a_dp_model_refits_the_rest_with_fresh_noise() -> None:
    from tests.conftest import planted_with_catalogue

    data = planted_with_catalogue()
    model = create_model("dp_ease", {"l2": 50.0, "epsilon": 4.0}, seed=0).fit(data)
    new, report = forget_users(model, FORGET)
    rest = without_users(data, data.user_index.lookup(FORGET))
    retrained = create_model("dp_ease", {"l2": 50.0, "epsilon": 4.0}, seed=0).fit(rest)
    assert report.method == "refit" and report.interactions_removed == 30
    assert new.user_index_ == retrained.user_index_
    np.testing.assert_array_equal(new.seen_.toarray(), retrained.seen_.toarray())
    assert not np.array_equal(new.weights_, retrained.weights_)  # a fresh release

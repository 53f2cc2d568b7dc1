"""forget_users: exact removal, verified against retraining without the users."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import planted_frame
from trustrec.data import Dataset
from trustrec.errors import DataError, ModelError, UnknownIdError
from trustrec.models import Recommender, create_model
from trustrec.privacy.unlearning import forget_users, without_users

FORGET = ["u3", "u10", "u41"]
ONE = ["u7"]


def wide() -> Dataset:
    """Fewer users than items: EASE solves in user space."""
    return Dataset.from_frame(planted_frame(n_users=48, n_items=200), name="wide")


def tall() -> Dataset:
    """More users than items: EASE inverts in item space."""
    return Dataset.from_frame(planted_frame(n_users=320, n_items=40), name="tall")


def small() -> Dataset:
    """60 users, 40 items: 3 users' 30 items are too many for the down-dates."""
    return Dataset.from_frame(planted_frame(), name="planted")


NO_DROPOUT = {"l2": 5.0, "dropout": 0.0}
DOWNDATE, ROWS = "ease-woodbury-downdate", "itemknn-row-update"
CASES = [
    (wide, "ease", NO_DROPOUT, FORGET, DOWNDATE),
    (tall, "ease", NO_DROPOUT, FORGET, DOWNDATE),
    (wide, "ease", {"l2": 5.0, "dropout": 0.2}, ONE, DOWNDATE),
    (tall, "ease", {"l2": 5.0, "dropout": 0.2}, ONE, DOWNDATE),
    (wide, "ease", {**NO_DROPOUT, "zero_diagonal": False}, FORGET, DOWNDATE),
    (tall, "ease", {"l2": 5.0, "dropout": 0.3, "zero_diagonal": False}, ONE, DOWNDATE),
    (tall, "ease", {**NO_DROPOUT, "implicit": False}, FORGET, DOWNDATE),
    (small, "ease", {"l2": 5.0, "dropout": 0.2}, FORGET, "refit"),  # rank 20+ > half of 20
    (wide, "itemknn", {"k": 10, "similarity": "cosine"}, FORGET, ROWS),
    (wide, "itemknn", {"k": 10, "similarity": "bm25", "bm25_b": 0.0}, FORGET, ROWS),
    (tall, "itemknn", {"k": 5, "similarity": "jaccard", "shrink": 1.0}, ONE, ROWS),
    (tall, "itemknn", {"k": 8, "similarity": "cosine", "alpha": 0.3, "implicit": False}, ONE,
     ROWS),
    (wide, "itemknn", {"k": 10}, FORGET, "refit"),  # bm25_b > 0 moves every weight
    (small, "itemknn", {"k": 10, "similarity": "cosine"}, FORGET, "refit"),  # > 1/4 of items
    (small, "popularity", {}, FORGET, "refit"),
    (small, "als", {"factors": 8, "regularization": 1.0, "iterations": 5, "threads": 1}, FORGET,
     "refit"),
    (small, "als", {"factors": 8, "regularization": 1.0, "iterations": 5, "threads": 1,
                    "implicit": False}, FORGET, "refit"),
]


def assert_same_model(new: Recommender, retrained: Recommender) -> None:
    """Same users, same seen items, and all scores equal to 1e-5."""
    assert new.user_index_ == retrained.user_index_
    np.testing.assert_array_equal(new.seen_.toarray(), retrained.seen_.toarray())
    users = np.arange(new.n_users_)
    np.testing.assert_allclose(new.score(users), retrained.score(users), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("data", "name", "params", "forget", "method"), CASES)
def test_forgetting_equals_retraining_without_the_users(data, name, params, forget,
                                                        method) -> None:
    dataset = data()
    model = create_model(name, params, seed=0).fit(dataset)
    new, report = forget_users(model, forget)
    retrained = create_model(name, params, seed=0).fit(
        without_users(dataset, dataset.user_index.lookup(forget)))
    assert report.method == method
    assert (report.users_removed, report.interactions_removed) == (len(forget),
                                                                   10 * len(forget))
    assert not set(forget) & set(new.user_index_.ids)
    assert_same_model(new, retrained)


@pytest.mark.parametrize(("name", "params"), [("ease", NO_DROPOUT),
                                              ("ease", {"l2": 5.0, "dropout": 0.2}),
                                              ("itemknn", {"k": 10, "similarity": "cosine"})])
def test_forgetting_one_after_another_equals_retraining_without_all(name, params) -> None:
    """What the service does: each forget starts from the last result."""
    dataset = wide()
    model = create_model(name, params).fit(dataset)
    for user in FORGET:
        model, report = forget_users(model, [user])
        assert report.method != "refit"
    retrained = create_model(name, params).fit(
        without_users(dataset, dataset.user_index.lookup(FORGET)))
    assert_same_model(model, retrained)


@pytest.mark.parametrize(("name", "params"), [("ease", NO_DROPOUT),
                                              ("itemknn", {"k": 10, "similarity": "cosine"})])
def test_a_loaded_model_forgets_by_its_down_date(name, params, tmp_path) -> None:
    dataset = wide()
    create_model(name, params).fit(dataset).save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    new, report = forget_users(loaded, FORGET)
    assert report.method != "refit"
    assert_same_model(new, create_model(name, params).fit(
        without_users(dataset, dataset.user_index.lookup(FORGET))))
    new.save(tmp_path / "after")  # the down-dated state is a normal artifact
    again, report = forget_users(Recommender.load(tmp_path / "after"), ["u20"])
    assert report.method != "refit"
    assert_same_model(again, create_model(name, params).fit(
        without_users(dataset, dataset.user_index.lookup([*FORGET, "u20"]))))


@pytest.mark.parametrize("max_rank", [0, 128])
def test_ease_keeps_the_update_factored_up_to_its_rank_limit(max_rank, monkeypatch) -> None:
    """Below the limit the forgotten model shares the old B (no new n_items² matrix);
    above it B is written out; either way its scores and B are a retrain's."""
    from trustrec.models import ease as ease_module

    monkeypatch.setattr(ease_module, "MAX_PENDING_RANK", max_rank)
    dataset = wide()
    model = create_model("ease", NO_DROPOUT).fit(dataset)
    new, _ = forget_users(model, FORGET)
    assert (new.low_rank_ is not None) == (max_rank > 0)
    if new.low_rank_ is not None:
        assert new.low_rank_.base is model.weights_ and new.low_rank_.rank == len(FORGET)
    retrained = create_model("ease", NO_DROPOUT).fit(
        without_users(dataset, dataset.user_index.lookup(FORGET)))
    assert_same_model(new, retrained)
    np.testing.assert_allclose(new.weights_, retrained.weights_, rtol=0, atol=1e-6)
    assert new.low_rank_ is None  # written out once asked for


def test_ease_without_its_stored_diagonal_refits(tmp_path) -> None:
    """An artifact without ``p_diag`` (written before it was kept) still forgets exactly."""
    dataset = wide()
    model = create_model("ease", NO_DROPOUT).fit(dataset)
    model.p_diag_ = None
    new, report = forget_users(model, FORGET)
    assert report.method == "refit"
    assert_same_model(new, create_model("ease", NO_DROPOUT).fit(
        without_users(dataset, dataset.user_index.lookup(FORGET))))


def test_verify_reports_agreement_and_original_is_untouched() -> None:
    dataset = wide()
    model = create_model("ease", {"l2": 5.0}).fit(dataset)
    before, weights = model.score([0, 1]), model.weights_.copy()
    new, report = forget_users(model, ["u0"], verify=True)
    assert report.method == DOWNDATE
    assert report.verified and report.max_abs_diff < 1e-5
    np.testing.assert_array_equal(model.score([0, 1]), before)
    np.testing.assert_array_equal(model.weights_, weights)
    assert new.n_users_ == model.n_users_ - 1


def test_approximate_als_gives_exact_fold_ins_and_says_so() -> None:
    dataset = small()
    params = {"factors": 8, "regularization": 1.0, "iterations": 5, "threads": 1}
    model = create_model("als", params, seed=0).fit(dataset)
    new, report = forget_users(model, FORGET, exact=False, verify=True)
    assert report.method == "als-approximate-item-step" and report.max_abs_diff > 0
    assert not set(FORGET) & set(new.user_index_.ids)
    touched = np.unique(model.seen_[model.user_index_.lookup(FORGET)].indices)
    untouched = np.setdiff1d(np.arange(model.n_items_), touched)
    np.testing.assert_array_equal(new.item_factors_[untouched], model.item_factors_[untouched])
    assert not np.allclose(new.item_factors_[touched], model.item_factors_[touched])
    for user in range(0, new.n_users_, 7):  # every vector is its history's exact fold-in
        history = new.seen_[user].indices
        np.testing.assert_allclose(new.user_factors_[user], new.fold_in(history), atol=1e-4)


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
    new, report = forget_users(model, ["u3"])
    rest = without_users(data, data.user_index.lookup(["u3"]))
    retrained = create_model("dp_ease", {"l2": 50.0, "epsilon": 4.0}, seed=0).fit(rest)
    assert report.method == "refit" and report.interactions_removed == 10
    assert new.user_index_ == retrained.user_index_
    np.testing.assert_array_equal(new.seen_.toarray(), retrained.seen_.toarray())
    assert not np.array_equal(new.weights_, retrained.weights_)  # a fresh release

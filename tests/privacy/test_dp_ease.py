"""DP-EASE: the model contract, the accountant, the mechanism's noise scale and clipping."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from tests.conftest import planted_with_catalogue
from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import Recommender, create_model
from trustrec.models.dp_accounting import gaussian_delta, gaussian_sigma
from trustrec.models.dp_ease import add_symmetric_noise, sensitivity
from trustrec.models.dp_input import clipped_input
from trustrec.privacy.unlearning import without_users


@pytest.fixture
def planted() -> Dataset:
    """The planted data with a public item catalogue (DP training refuses it without)."""
    return planted_with_catalogue()


class TestDpEase(ModelContract):
    model_name = "dp_ease"
    params: ClassVar[dict[str, Any]] = {"l2": 50.0, "epsilon": 4.0, "max_items_per_user": 20,
                                        "threads": 1}
    deterministic = False


@pytest.mark.parametrize(("eps", "delta"), [(0.5, 1e-5), (1.0, 1e-5), (8.0, 1e-6)])
def test_sigma_is_the_smallest_noise_meeting_delta(eps: float, delta: float) -> None:
    sigma = gaussian_sigma(eps, delta, 3.0)
    assert gaussian_delta(sigma, eps, 3.0) <= delta
    assert gaussian_delta(sigma * 0.99, eps, 3.0) > delta
    assert gaussian_sigma(eps, delta, 6.0) == pytest.approx(2 * sigma, rel=1e-6)
    if eps <= 1:  # tighter than the classical Δ·√(2 ln(1.25/δ))/ε bound where that holds
        assert sigma < 3.0 * math.sqrt(2 * math.log(1.25 / delta)) / eps


def test_sigma_falls_with_epsilon_and_is_zero_without_privacy() -> None:
    sigmas = [gaussian_sigma(e, 1e-5, 1.0) for e in (1, 2, 4, 8)]
    assert all(a > b for a, b in itertools.pairwise(sigmas))
    assert gaussian_sigma(math.inf, 1e-5, 1.0) == 0.0
    with pytest.raises(ConfigError):
        gaussian_sigma(0.0, 1e-5, 1.0)


def test_fitted_noise_follows_the_accountant(planted: Dataset, tmp_path) -> None:
    model = create_model("dp_ease", {"epsilon": 2.0, "delta": 1e-6, "max_items_per_user": 5,
                                     "l2": 50.0})
    model.fit(planted)
    expected = gaussian_sigma(2.0, 1e-6, math.sqrt(5 * 6 / 2))
    assert model.sigma_ == pytest.approx(expected)
    assert model.privacy_["sensitivity"] == pytest.approx(sensitivity(5))
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["extra"]["privacy"]["sigma"] == pytest.approx(expected)
    assert manifest["extra"]["privacy"]["epsilon"] == 2.0
    assert Recommender.load(path).privacy_ == model.privacy_


def test_symmetric_noise_has_the_requested_scale() -> None:
    noise = np.zeros((400, 400))
    add_symmetric_noise(noise, 3.0)
    np.testing.assert_array_equal(noise, noise.T)
    assert np.std(noise) == pytest.approx(3.0, rel=0.02)


def test_clipping_keeps_at_most_m_items_of_each_user(planted: Dataset) -> None:
    x = planted.csr
    ids = planted.user_index.ids, planted.item_index.ids
    clipped = clipped_input(x, *ids, 4, seed=0)
    assert np.diff(clipped.indptr).max() == 4
    assert (clipped - clipped.multiply(x > 0)).nnz == 0  # a subset of each user's items
    assert np.all(clipped.data == 1.0)
    assert sp.linalg.norm(clipped_input(x, *ids, 100, seed=0) - (x > 0)) == 0
    assert (clipped_input(x, *ids, 4, seed=1) != clipped).nnz > 0  # the seed picks them


def test_a_users_clipping_does_not_depend_on_the_other_users(planted: Dataset) -> None:
    """With one shared random stream, removing user 0 would change which items every later
    user keeps: the neighbouring clipped matrices would differ in many rows, not one."""
    rest = without_users(planted, np.array([0]))
    full = clipped_input(planted.csr, planted.user_index.ids, planted.item_index.ids, 4, 0)
    less = clipped_input(rest.csr, rest.user_index.ids, rest.item_index.ids, 4, 0)
    assert (full[1:] != less).nnz == 0


def test_infinite_epsilon_is_clipped_noiseless_ease(planted: Dataset) -> None:
    dp = create_model("dp_ease", {"epsilon": math.inf, "max_items_per_user": 1000,
                                  "l2": 50.0, "dropout": 0.0}).fit(planted)
    ease = create_model("ease", {"l2": 50.0, "dropout": 0.0}).fit(planted)
    assert dp.sigma_ == 0.0
    np.testing.assert_allclose(dp.weights_, ease.weights_, atol=1e-5)


def test_more_privacy_costs_utility(planted: Dataset) -> None:
    def agreement(eps: float) -> float:
        model = create_model("dp_ease", {"epsilon": eps, "l2": 20.0}).fit(planted)
        recs = model.recommend(np.arange(planted.n_users), k=3).items
        block = planted.n_items // 4
        groups = np.arange(planted.n_users) % 4
        item_ids = planted.item_index.to_external(recs)
        item_nums = np.vectorize(lambda s: int(s[1:]))(item_ids)
        return float(np.mean(item_nums // block == groups[:, None]))

    assert agreement(math.inf) > agreement(0.05)

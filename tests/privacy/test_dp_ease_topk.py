"""DP-EASE on privately selected items: the model contract, the sensitivity of its scaled
releases (checked against every user's removal), the budget split's accounting, the
spectral denoising and the noiseless limit."""

from __future__ import annotations

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
from trustrec.models.dp_accounting import (
    composed_delta,
    gaussian_delta,
    gaussian_sigma,
    split_sigmas,
)
from trustrec.models.dp_ease import psd_projection
from trustrec.models.dp_ease_topk import denoise_spectrum, sensitivities
from trustrec.models.dp_input import scaled_rows
from trustrec.models.ease import ease_solution


@pytest.fixture
def planted() -> Dataset:
    """The planted data with a public item catalogue (DP training refuses it without)."""
    return planted_with_catalogue()


class TestDpEaseTopk(ModelContract):
    model_name = "dp_ease_topk"
    params: ClassVar[dict[str, Any]] = {"epsilon": 4.0, "top_items": 20, "threads": 1}
    deterministic = False


def _upper(a: np.ndarray) -> np.ndarray:
    return a[np.triu_indices_from(a)]


@pytest.mark.parametrize("m", [1, 2, 5, 30])
def test_one_users_removal_moves_each_release_by_at_most_its_sensitivity(m: int) -> None:
    """The bound behind both releases, checked user by user on rows of 1 to 40 items
    (below, at and far above m), with the bound reached where the theory says."""
    rng = np.random.default_rng(0)
    lengths = [1, 2, 3, 5, 8, 13, 21, 30, 40]
    rows = [rng.choice(60, size=c, replace=False) for c in lengths]
    x = sp.csr_matrix((np.ones(sum(lengths)), np.concatenate(rows),
                       np.concatenate([[0], np.cumsum(lengths)])), shape=(len(lengths), 60))
    d1, d2 = sensitivities(m)
    full = scaled_rows(x, m)
    counts, g = np.asarray(full.sum(axis=0)).ravel(), (full.T @ full).toarray()
    moves1, moves2 = [], []
    for u in range(len(lengths)):
        rest = scaled_rows(x[np.arange(len(lengths)) != u], m)  # the others' weights
        moves1.append(np.linalg.norm(counts - np.asarray(rest.sum(axis=0)).ravel()))
        moves2.append(np.linalg.norm(_upper(g - (rest.T @ rest).toarray())))
    assert max(moves1) <= d1 * (1 + 1e-12) and max(moves2) <= d2 * (1 + 1e-12)
    assert max(moves2) > 0.9 * d2  # tight: a user with c ≥ m items nearly reaches it


def test_the_budget_split_composes_to_the_stated_epsilon_delta() -> None:
    d1, d2 = sensitivities(2)
    for eps in (0.5, 1.0, 8.0):
        s1, s2 = split_sigmas(eps, 1e-5, (d1, d2), (0.3, 0.7))
        assert composed_delta((s1, s2), (d1, d2), eps) == pytest.approx(1e-5, rel=1e-6)
        assert composed_delta((s1 * 0.99, s2), (d1, d2), eps) > 1e-5  # no slack to spare
        # each release alone is a Gaussian mechanism at its share: tighter than the whole
        assert gaussian_delta(s1, eps, d1) < 1e-5 and gaussian_delta(s2, eps, d2) < 1e-5
    # two equal halves of μ² each need √2 times the noise of one release with everything
    one = gaussian_sigma(1.0, 1e-5, 3.0)
    assert split_sigmas(1.0, 1e-5, (3.0, 3.0), (0.5, 0.5)) == pytest.approx(
        [math.sqrt(2) * one] * 2, rel=1e-9)
    assert split_sigmas(math.inf, 1e-5, (3.0, 3.0), (0.5, 0.5)) == [0.0, 0.0]
    with pytest.raises(ConfigError, match="summing to 1"):
        split_sigmas(1.0, 1e-5, (3.0, 3.0), (0.5, 0.6))


def test_fitted_noise_follows_the_split_and_is_reported(planted: Dataset, tmp_path) -> None:
    params = {"epsilon": 1.0, "max_items_per_user": 3, "selection_share": 0.4,
              "top_items": 12}
    model = create_model("dp_ease_topk", params).fit(planted)
    d1, d2 = sensitivities(3)
    s1, s2 = split_sigmas(1.0, 1e-5, (d1, d2), (0.4, 0.6))
    assert (model.sigma_counts_, model.sigma_gram_) == pytest.approx((s1, s2))
    privacy = model.privacy_
    assert composed_delta((privacy["sigma_counts"], privacy["sigma_gram"]),
                          (privacy["sensitivity_counts"], privacy["sensitivity_gram"]),
                          privacy["epsilon"]) <= privacy["delta"] * (1 + 1e-9)
    assert "0.4·μ²" in privacy["budget"] and "0.6·μ²" in privacy["budget"]
    exact = create_model("dp_ease_topk", {**params, "epsilon": math.inf}).fit(planted)
    residual = model.item_popularity_ - exact.item_popularity_
    assert 0.5 * s1 < np.std(residual) < 1.5 * s1
    assert Recommender.load(model.save(tmp_path / "m")).privacy_ == privacy


def test_only_the_top_items_by_noisy_count_get_weights(planted: Dataset) -> None:
    model = create_model("dp_ease_topk", {"epsilon": 2.0, "top_items": 10}).fit(planted)
    order = np.argsort(-model.item_popularity_, kind="stable")
    np.testing.assert_array_equal(model.kept_, np.sort(order[:10]))
    assert model.weights_.shape == (10, 10)
    others = np.setdiff1d(np.arange(planted.n_items), model.kept_)
    scores = model.score([0])[0]
    np.testing.assert_allclose(scores[others], model._popularity_term()[others])


def test_denoising_keeps_the_spikes_above_the_noise_edge() -> None:
    rng = np.random.default_rng(1)
    k, sigma = 200, 1.0
    v = np.linalg.qr(rng.standard_normal((k, 2)))[0]
    signal = (v * np.array([400.0, 60.0])) @ v.T  # 2σ√k ≈ 28: both spikes are above it
    noise = np.triu(rng.standard_normal((k, k)) * sigma)
    noisy = signal + noise + np.triu(noise, 1).T
    estimate, rank = denoise_spectrum(noisy.copy(), sigma)
    assert rank == 2
    error = np.linalg.norm(estimate - signal)
    assert error < 0.25 * np.linalg.norm(noisy - signal)
    assert error < 0.5 * np.linalg.norm(psd_projection(noisy) - signal)  # DP-EASE's step


def test_infinite_epsilon_is_noiseless_ease_on_the_top_items(planted: Dataset) -> None:
    """With m above every history, every item kept and no popularity term, the model is
    EASE (l2, no dropout) on the binary matrix."""
    model = create_model("dp_ease_topk", {"epsilon": math.inf, "max_items_per_user": 1000,
                                          "top_items": 1000, "popularity_weight": 0.0,
                                          "l2": 30.0}).fit(planted)
    assert model.sigma_counts_ == model.sigma_gram_ == 0.0
    np.testing.assert_allclose(model.weights_, ease_solution(planted.csr > 0, 30.0)[0], atol=1e-5)
    np.testing.assert_array_equal(model.item_popularity_, planted.item_counts())


def test_more_privacy_costs_utility(planted: Dataset) -> None:
    def hits(eps: float) -> float:
        model = create_model("dp_ease_topk", {"epsilon": eps, "top_items": 40}).fit(planted)
        recs = model.recommend(np.arange(planted.n_users), k=3).items
        block = planted.n_items // 4
        item_nums = np.vectorize(lambda s: int(s[1:]))(planted.item_index.to_external(recs))
        return float(np.mean(item_nums // block == (np.arange(planted.n_users) % 4)[:, None]))

    assert hits(math.inf) > 0.6 > 0.4 > hits(0.05)  # at most 2 of 3 can hit: 8 of 10 seen


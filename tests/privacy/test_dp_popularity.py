"""DP popularity: the model contract and its mechanism's noise scale."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest

from tests.conftest import planted_with_catalogue
from tests.models.contract import ModelContract
from trustrec.data import Dataset
from trustrec.models import create_model
from trustrec.models.dp_accounting import gaussian_sigma


@pytest.fixture
def planted() -> Dataset:
    """The planted data with a public item catalogue (DP training refuses it without)."""
    return planted_with_catalogue()


class TestDpPopularity(ModelContract):
    model_name = "dp_popularity"
    params: ClassVar[dict[str, Any]] = {"epsilon": 4.0, "max_items_per_user": 5}
    deterministic = False


def test_noise_is_calibrated_to_the_clipped_counts(planted: Dataset) -> None:
    model = create_model("dp_popularity", {"epsilon": 1.0, "max_items_per_user": 4}).fit(
        planted)
    assert model.sigma_ == pytest.approx(gaussian_sigma(1.0, 1e-5, 2.0))  # Δ = √m
    exact = create_model("dp_popularity", {"epsilon": math.inf, "max_items_per_user": 4})
    counts = exact.fit(planted).item_scores_
    assert counts.sum() == 4 * planted.n_users  # every planted user has > 4 items
    residual = model.item_scores_ - counts
    assert 0.5 * model.sigma_ < np.std(residual) < 1.5 * model.sigma_

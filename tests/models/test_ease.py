"""``ease``: contract, closed form against numpy, variants, fallback, threads, config errors."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from tests.models.contract import ModelContract
from tests.models.holdout import in_group_hit_rate
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import create_model
from trustrec.models import ease as ease_module


class TestEase(ModelContract):
    model_name = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 10.0}


class TestDlaeWithValues(ModelContract):
    model_name = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 10.0, "dropout": 0.3, "zero_diagonal": False,
                                        "implicit": False}


def matrix_dataset(n_users: int, n_items: int, seed: int = 0) -> Dataset:
    """Random ratings where every user and item has at least one interaction."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n_users, n_items)) < 0.35) * rng.integers(1, 6, (n_users, n_items))
    x[np.arange(max(n_users, n_items)) % n_users, np.arange(max(n_users, n_items)) % n_items] = 3
    u, i = np.nonzero(x)
    frame = pd.DataFrame({"user_id": u, "item_id": i, "rating": x[u, i].astype(float)})
    return Dataset.from_frame(frame)


def numpy_closed_form(x: np.ndarray, l2: float, dropout: float,
                      zero_diagonal: bool) -> np.ndarray:
    """Steck's formulas, written directly with a general float64 inverse."""
    g = x.T @ x
    lam = np.diag(l2 + dropout / (1 - dropout) * np.diag(g))
    p = np.linalg.inv(g + lam)
    if not zero_diagonal:
        return p @ g  # DLAE: B = (G + Λ)⁻¹ G
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("shape", [(25, 8), (8, 25)], ids=["item-space", "user-space"])
@pytest.mark.parametrize(("dropout", "zero_diagonal"), [(0.0, True), (0.3, True), (0.3, False)])
def test_weights_match_numpy_closed_form(shape, dropout, zero_diagonal, monkeypatch) -> None:
    monkeypatch.setattr(ease_module, "SCORE_BLOCK", 20)  # several row blocks
    data = matrix_dataset(*shape)
    model = create_model("ease", {"l2": 3.0, "dropout": dropout,
                                  "zero_diagonal": zero_diagonal}).fit(data)
    x = (data.csr.toarray() > 0).astype(np.float64)
    expected = numpy_closed_form(x, 3.0, dropout, zero_diagonal)
    assert model.weights_.dtype == np.float32
    np.testing.assert_allclose(model.weights_, expected, atol=2e-6)
    if zero_diagonal:
        assert np.all(np.diag(model.weights_) == 0)
    np.testing.assert_allclose(model.score(np.arange(shape[0])), x @ expected, atol=1e-5)


def test_explicit_values_are_used_when_not_implicit() -> None:
    data = matrix_dataset(20, 10)
    model = create_model("ease", {"l2": 3.0, "dropout": 0.0, "implicit": False}).fit(data)
    x = data.csr.toarray().astype(np.float64)
    np.testing.assert_allclose(model.weights_, numpy_closed_form(x, 3.0, 0.0, True), atol=2e-6)
    np.testing.assert_allclose(model.score([0, 1]), x[:2] @ model.weights_, rtol=1e-5)


def test_float32_failure_refits_in_float64(caplog) -> None:
    rng = np.random.default_rng(1)
    x = np.zeros((25, 4))
    x[:16, :2] = 1.0  # items 0 and 1 are twins liked by 16 users: XᵀX is singular, and
    x[:, 2:] = rng.random((25, 2)) < 0.5  # with √16 exact, l2 = 1e-9 is lost in float32
    i, u = np.nonzero(x.T)  # item-major, so that the twins are the first indices
    data = Dataset.from_frame(pd.DataFrame({"user_id": u, "item_id": i}))
    with caplog.at_level(logging.WARNING, logger="trustrec.models.ease"):
        model = create_model("ease", {"l2": 1e-9, "dropout": 0.0}).fit(data)
    assert "float64" in caplog.text
    b = model.weights_
    assert np.isfinite(b).all() and np.all(np.diag(b) == 0)
    a, twin = data.item_index.lookup([0, 1])
    assert b[a, twin] == pytest.approx(1.0, abs=1e-4)  # each twin predicts the other
    assert b[twin, a] == pytest.approx(1.0, abs=1e-4)


def test_threads_limit_blas_during_fit(planted: Dataset, monkeypatch) -> None:
    seen: list[int] = []
    original = ease_module.ease_solution

    def spy(*args, **kwargs):
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return original(*args, **kwargs)

    monkeypatch.setattr(ease_module, "ease_solution", spy)
    create_model("ease", {"threads": 1}).fit(planted)
    assert seen == [1]


def test_beats_popularity_on_held_out_in_group_items() -> None:
    pop = in_group_hit_rate("popularity")
    assert in_group_hit_rate("ease") >= max(0.8, pop + 0.5)
    assert in_group_hit_rate("ease", {"zero_diagonal": False}) >= max(0.8, pop + 0.5)


@pytest.mark.parametrize(("key", "value"), [("l2", 0), ("l2", -1.0), ("l2", "nan"),
                                            ("dropout", 1.0), ("dropout", -0.1),
                                            ("threads", -1)])
def test_invalid_parameters_name_the_parameter(key, value) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        create_model("ease", {key: value})

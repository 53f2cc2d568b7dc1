"""``ncf``: contract, planted latent structure, negative sampling, ratings, DP-SGD."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from tests.models.contract import ModelContract
from tests.models.holdout import in_group_hit_rate
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import Recommender, create_model
from trustrec.models.ncf import sample_negatives

#: Tiny and fast, sized for the 60-user planted fixture.
SMALL = {"factors": 8, "layers": "16,8", "epochs": 10, "batch_size": 128,
         "learning_rate": 0.02}


class TestNcf(ModelContract):
    model_name = "ncf"
    params = SMALL


class TestNcfRating(ModelContract):
    model_name = "ncf"
    params: ClassVar[dict[str, Any]] = {**SMALL, "task": "rating"}


def test_beats_popularity_on_planted_groups() -> None:
    ncf = in_group_hit_rate("ncf", SMALL, k=3)
    popularity = in_group_hit_rate("popularity", k=3)
    assert ncf >= 0.5
    assert ncf > popularity + 0.3


def test_negatives_avoid_seen_items() -> None:
    rng = np.random.default_rng(0)
    seen = sp.random(50, 20, density=0.6, format="csr", random_state=1)
    seen.sort_indices()
    users = np.repeat(np.arange(50), 3)
    neg = sample_negatives(users, seen, 4, rng)
    assert neg.shape == (150, 4)
    assert (seen[np.repeat(users, 4), neg.ravel()].A1 == 0).all()


def test_rating_task_predicts_on_the_rating_scale(planted: Dataset) -> None:
    held = np.zeros(len(planted), dtype=bool)
    held[np.random.default_rng(0).choice(len(planted), 60, replace=False)] = True
    train = planted.filter(~held)
    model = create_model("ncf", {**SMALL, "task": "rating", "epochs": 30}).fit(train)
    assert model.predicts_ratings
    pred = model.predict(planted.user[held], planted.item[held])
    truth = planted.value[held]
    assert np.sqrt(np.mean((pred - truth) ** 2)) < np.sqrt(np.mean((truth - train.value.mean())
                                                                   ** 2))


def test_early_stopping_keeps_the_best_epoch(planted: Dataset) -> None:
    model = create_model("ncf", {**SMALL, "epochs": 40, "patience": 2}).fit(planted)
    log = model.training_
    assert log["best_epoch"] == int(np.argmax(log["validation"])) + 1
    assert log["stopped"] in {"early_stopping", "epochs"}
    assert len(log["train_loss"]) == len(log["validation"]) == log["epochs"]


def test_dp_sgd_reports_its_guarantee_in_the_manifest(planted: Dataset, tmp_path) -> None:
    model = create_model("ncf", {**SMALL, "epochs": 3, "dp_epsilon": 2.0,
                                 "dp_max_grad_norm": 0.5}).fit(planted)
    privacy = model.privacy_
    assert privacy["mechanism"] == "DP-SGD (Opacus)"
    assert 1.8 <= privacy["epsilon"] <= 2.05
    assert privacy["noise_multiplier"] > 0 and privacy["max_grad_norm"] == 0.5
    path = model.save(tmp_path / "dp")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["extra"]["privacy"] == privacy
    assert Recommender.load(path).privacy_ == privacy
    assert np.isfinite(model.score([0, 1])).all()


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="layers"):
        create_model("ncf", {"layers": "15,8"})
    with pytest.raises(ConfigError, match="dp_epsilon"):
        create_model("ncf", {"dp_epsilon": -1})
    with pytest.raises(ConfigError, match="task"):
        create_model("ncf", {"task": "ranking"})

"""``ncf``: contract, planted latent structure, negative sampling, ratings, DP-SGD."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from tests.conftest import planted_with_catalogue
from tests.models.contract import ModelContract
from tests.models.holdout import in_group_hit_rate
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import Recommender, create_model
from trustrec.models.ncf import interaction_examples, sample_negatives

#: Tiny and fast, sized for the 60-user planted fixture.
SMALL = {"factors": 8, "layers": "16,8", "epochs": 10, "batch_size": 128,
         "learning_rate": 0.02}
#: The same with DP-SGD at ε = 2.
DP_SMALL = {**SMALL, "epochs": 3, "dp_epsilon": 2.0}


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


def test_dp_sgd_states_its_unit_and_release_in_the_manifest(tmp_path) -> None:
    data = planted_with_catalogue()
    model = create_model("ncf", {**DP_SMALL, "dp_max_grad_norm": 0.5}).fit(data)
    privacy = model.privacy_
    assert privacy["unit"].startswith("interaction") and "not user-level" in privacy["unit"]
    assert "c·ε" in privacy["group_bound"] and "roster" in privacy["neighbouring"]
    assert "seen.*" in privacy["outside_guarantee"] and "os.urandom" in privacy["noise_source"]
    assert 1.8 <= privacy["epsilon"] <= 2.05
    assert privacy["noise_multiplier"] > 0 and privacy["max_grad_norm"] == 0.5
    path = model.save(tmp_path / "dp")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["extra"]["privacy"] == privacy
    assert Recommender.load(path).privacy_ == privacy
    assert np.isfinite(model.score([0, 1])).all()


def test_a_dp_sgd_example_is_one_interaction_and_depends_on_it_alone() -> None:
    """The accounted unit is one example; each is one interaction with its negatives, and
    removing an interaction removes its example and changes no other."""
    data = planted_with_catalogue()
    users, items, labels = interaction_examples(data, 4, seed=0)
    assert users.shape == items.shape == labels.shape == (len(data), 5)
    assert (labels[:, 0] == 1).all() and (labels[:, 1:] == 0).all()
    assert (items[:, 1:] != items[:, :1]).all() and (users == users[:, :1]).all()
    rest = data.filter(np.arange(len(data)) != 7)
    r_users, r_items, _ = interaction_examples(rest, 4, seed=0)
    full = {(u, *i) for u, i in zip(users[:, 0], items.tolist(), strict=True)}
    less = {(u, *i) for u, i in zip(r_users[:, 0], r_items.tolist(), strict=True)}
    assert less < full and len(full - less) == 1


def test_dp_sgd_noise_cannot_be_replayed_by_a_known_rest_attacker() -> None:
    """The attacker knows every interaction but the target's, the seed and the
    configuration, re-runs the fit with and without the target and compares with the
    release: with seeded noise one of them matched it exactly."""
    data = planted_with_catalogue()
    target = data.filter(np.arange(len(data)) != 3)
    release = create_model("ncf", DP_SMALL).fit(data)
    for world in (data, target):
        replay = create_model("ncf", DP_SMALL).fit(world)
        assert not np.array_equal(replay.score([0, 1, 2]), release.score([0, 1, 2]))


def test_dp_sgd_needs_a_public_catalogue_and_implicit_task(planted: Dataset) -> None:
    with pytest.raises(ConfigError, match="public source"):
        create_model("ncf", DP_SMALL).fit(planted)
    with pytest.raises(ConfigError, match="raw rating"):
        create_model("ncf", {**DP_SMALL, "task": "rating"})


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="layers"):
        create_model("ncf", {"layers": "15,8"})
    with pytest.raises(ConfigError, match="dp_epsilon"):
        create_model("ncf", {"dp_epsilon": -1})
    with pytest.raises(ConfigError, match="task"):
        create_model("ncf", {"task": "ranking"})

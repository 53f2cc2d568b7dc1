"""What every DP model promises: unreplayable noise, a release that holds only covered
parts, and a public item catalogue. Each test mounts the attack the promise must survive."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import planted_frame, planted_with_catalogue
from trustrec.data import Dataset
from trustrec.errors import ConfigError
from trustrec.models import Recommender, create_model
from trustrec.privacy.unlearning import without_users

DP_MODELS = [("dp_ease", {"l2": 50.0, "epsilon": 1.0, "max_items_per_user": 8}),
             ("dp_popularity", {"epsilon": 1.0, "max_items_per_user": 8}),
             ("dp_ease_topk", {"epsilon": 1.0, "top_items": 15})]


def released_arrays(model: Recommender) -> dict[str, np.ndarray]:
    """The arrays a DP model's noise reaches: its weights or its list."""
    if model.name in ("dp_ease", "dp_ease_topk"):  # (the kept list is a top-k: may repeat)
        return {"B": model.weights_, "popularity": model.item_popularity_}
    return {"item_scores": model.item_scores_}


@pytest.mark.parametrize(("name", "params"), DP_MODELS)
def test_two_fits_with_one_seed_draw_different_noise(name: str, params: dict[str, Any]
                                                     ) -> None:
    data = planted_with_catalogue()
    a, b = (released_arrays(create_model(name, params, seed=0).fit(data)) for _ in range(2))
    for key in a:
        assert not np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize(("name", "params"), DP_MODELS)
def test_known_rest_attacker_cannot_replay_the_release(name: str, params: dict[str, Any],
                                                       tmp_path) -> None:
    """The attacker knows every user but the target, the seed and the configuration (all in
    the manifest), re-runs the fit for "target in" and "target out" and looks for the one
    that reproduces the released artifact: with seeded noise, "in" matched exactly."""
    data = planted_with_catalogue()
    path = create_model(name, params, seed=0).fit(data).save(tmp_path / "release")
    release = Recommender.load(path)
    manifest = json.loads((path / "manifest.json").read_text())
    target_out = without_users(data, np.array([5]))
    released = released_arrays(release)
    for world in (data, target_out):
        replay = released_arrays(create_model(name, manifest["config"]).fit(world))
        # the attack wins only by reproducing the whole release (a part that the noise
        # wipes out, e.g. an all-zero denoised B, is equal in both worlds and tells nothing)
        assert not all(np.array_equal(value, released[key]) for key, value in replay.items())


@pytest.mark.parametrize(("name", "params"), DP_MODELS)
def test_the_artifact_holds_only_what_the_guarantee_covers(name: str, params: dict[str, Any],
                                                           tmp_path) -> None:
    data = planted_with_catalogue()
    model = create_model(name, params, seed=0).fit(data)
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / "manifest.json").read_text())
    for raw in ("dataset_fingerprint", "n_users", "train_mean", "user_id_kind"):
        assert raw not in manifest, raw
    privacy = manifest["extra"]["privacy"]
    assert set(manifest["arrays"]) <= set(privacy["released"])  # every file is accounted for
    assert "config" in privacy["released"]
    assert privacy["epsilon"] == 1.0 and privacy["delta"] == 1e-5
    assert privacy["unit"].startswith("user") and "adding or removing one user" in \
        privacy["neighbouring"]
    # empty histories get the noisy popularity, never the raw counts
    raw_counts = np.bincount(data.item, minlength=data.n_items)
    served = Recommender.load(path).score_history(np.empty(0, np.int32))
    np.testing.assert_array_equal(served, model.score_history(np.empty(0, np.int32)))
    assert not np.allclose(served, raw_counts)


def test_cold_users_in_memory_get_the_noisy_popularity_too() -> None:
    frame = planted_frame()
    users = pd.DataFrame({"user_id": [*frame["user_id"].unique(), "newcomer"]})
    items = planted_with_catalogue().items[["item_id"]]
    data = Dataset.from_frame(frame, items=items, users=users)
    model = create_model("dp_ease", DP_MODELS[0][1], seed=0).fit(data)
    cold = data.user_index.lookup(["newcomer"])
    np.testing.assert_array_equal(model.score(cold)[0], model.item_popularity_)
    assert not np.allclose(model.item_popularity_, data.item_counts())


@pytest.mark.parametrize(("name", "params"), DP_MODELS)
def test_dp_training_refuses_a_catalogue_taken_from_the_interactions(
        name: str, params: dict[str, Any], planted: Dataset) -> None:
    with pytest.raises(ConfigError, match="no item table"):
        create_model(name, params).fit(planted)
    partial = pd.DataFrame({"item_id": [f"i{i}" for i in range(30)]})
    with pytest.raises(ConfigError, match="missing from its item table"):
        create_model(name, params).fit(Dataset.from_frame(planted_frame(), items=partial))


@pytest.mark.parametrize(("name", "params"), DP_MODELS)
def test_removing_the_only_rater_of_an_item_keeps_the_release_shape(
        name: str, params: dict[str, Any], tmp_path) -> None:
    frame = planted_frame()
    frame = pd.concat([frame, pd.DataFrame({"user_id": ["loner"], "item_id": ["only-mine"],
                                            "rating": [5.0], "timestamp": [1]})])
    ids = [*planted_with_catalogue().item_index.ids, "only-mine"]
    catalogue = pd.DataFrame({"item_id": ids})
    with_loner = Dataset.from_frame(frame, items=catalogue)
    without = Dataset.from_frame(frame[frame["user_id"] != "loner"], items=catalogue)
    a = create_model(name, params, seed=0).fit(with_loner).save(tmp_path / "a")
    b = create_model(name, params, seed=0).fit(without).save(tmp_path / "b")
    shapes = [{k: v["shape"] for k, v in json.loads((p / "manifest.json").read_text())
               ["arrays"].items()} for p in (a, b)]
    assert shapes[0] == shapes[1]
    np.testing.assert_array_equal(Recommender.load(a).item_index_.ids,
                                  Recommender.load(b).item_index_.ids)

"""``trustrec recommend --history`` and ``recommend_history_external``: external item IDs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.cli.test_cli import run
from trustrec.data import synthetic
from trustrec.models import create_model
from trustrec.models.external import recommend_history_external


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    ds = synthetic.generate(n_users=60, n_items=40, n_interactions=900, seed=5)
    return synthetic.to_files(ds, tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def model():
    ds = synthetic.generate(n_users=60, n_items=40, n_interactions=900, seed=5)
    return create_model("itemknn", {"k": 10}).fit(ds)


def test_history_api_skips_unknown_items_and_excludes_the_history(model) -> None:
    ids = list(model.item_index_.ids[:3])
    frame = recommend_history_external(model, [*ids, "no-such-item"], k=5)
    assert list(frame.columns) == ["item_id", "rank", "score"]
    assert list(frame["rank"]) == [1, 2, 3, 4, 5]
    assert not set(frame["item_id"]) & set(ids)
    assert frame.attrs == {"n_unknown_items": 1, "fallback": None}
    same = recommend_history_external(model, ids, k=5)
    pd.testing.assert_frame_equal(frame, same)
    assert frame["score"].is_monotonic_decreasing


def test_history_api_falls_back_to_popularity(model) -> None:
    frame = recommend_history_external(model, ["nope", "nada"], k=4)
    assert frame.attrs == {"n_unknown_items": 2, "fallback": "popularity"}
    popular = model.item_index_.to_external(
        (-model.item_popularity_).argsort(kind="stable")[:4])
    assert list(frame["item_id"]) == list(popular)


def test_history_values_must_match_items(model) -> None:
    from trustrec.errors import DataError

    with pytest.raises(DataError, match="one value per item"):
        recommend_history_external(model, list(model.item_index_.ids[:2]), values=[1.0])


def test_cli_recommend_from_history(capsys, tmp_path, files) -> None:
    model_dir = tmp_path / "model"
    code, _out, err = run(capsys, "train", "--interactions", files["interactions"],
                          "--model", "itemknn", "--out", model_dir)
    assert code == 0, err
    items = pd.read_csv(files["interactions"], dtype=str)["item_id"].unique()[:3]
    out_path = tmp_path / "recs.csv"
    code, out, err = run(capsys, "recommend", "--model-dir", model_dir, "--history",
                         ",".join([*items, "ghost"]), "--k", 6, "--out", out_path)
    assert code == 0, err
    assert "1 unknown history item" in err
    recs = pd.read_csv(out_path, dtype={"item_id": str})
    assert list(recs.columns) == ["item_id", "rank", "score"]
    assert len(recs) == 6 and not set(recs["item_id"]) & set(items)
    assert recs["item_id"].iloc[0] in out  # the list is also printed

    code, _out, err = run(capsys, "recommend", "--model-dir", model_dir, "--history",
                          items[0], "--users", out_path)
    assert code == 2 and "exactly one of --users and --history" in err

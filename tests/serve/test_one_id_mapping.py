"""One ID mapping for the whole project (issue 14, point 16): the CLI and the API read odd
spellings of an integer user ID the same way, because both go through ``IdIndex``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.cli.test_cli import run
from tests.conftest import planted_frame
from trustrec.data import Dataset
from trustrec.models import create_model

ODD = ["7.0", "+7", "1e1", "07", "-0"]


@pytest.fixture
def int_model(tmp_path: Path) -> Path:
    """An item-kNN model whose user IDs are integers 0…59."""
    frame = planted_frame()
    frame["user_id"] = frame["user_id"].str[1:].astype(int)
    path = tmp_path / "int-model"
    create_model("itemknn", {"k": 10}).fit(Dataset.from_frame(frame)).save(path)
    return path


def test_cli_and_api_agree_on_odd_integer_ids(capsys, make_client, keys, int_model: Path,
                                              tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("\n".join(["7", *ODD]) + "\n")
    code, _, err = run(capsys, "recommend", "--model-dir", int_model, "--users", users,
                       "--out", tmp_path / "recs.csv", "--k", "5")
    assert code == 0, err
    assert f"{len(ODD)} unknown user(s)" in err  # only "7" is user 7
    cli = pd.read_csv(tmp_path / "recs.csv", dtype=str)
    client = make_client(key=keys["read"], model_dir=int_model)
    for user in ["7", *ODD]:
        body = client.get(f"/v1/recommendations/{user}", params={"k": 5}).json()
        assert body["source"] == ("model" if user == "7" else "popular"), user
        from_cli = cli.loc[cli["user_id"] == user, "item_id"].tolist()
        assert [row["item_id"] for row in body["items"]] == from_cli, user


def test_cli_and_api_refuse_a_padded_id_alike(capsys, make_client, keys,
                                               int_model: Path) -> None:
    pytest.importorskip("trustrec.explain")
    client = make_client(key=keys["read"], model_dir=int_model)
    item = client.get("/v1/recommendations/7", params={"k": 1}).json()["items"][0]["item_id"]
    assert client.get(f"/v1/explain/7/{item}").status_code == 200
    assert run(capsys, "explain", "--model-dir", int_model, "--user", "7", "--item", item)[0] == 0
    for user in (" 7", "7 "):
        assert client.get(f"/v1/explain/{user}/{item}").status_code == 404
        code, _, err = run(capsys, "explain", "--model-dir", int_model, "--user", user,
                           "--item", item)
        assert code == 2 and "unknown" in err

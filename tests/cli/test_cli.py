"""The ``trustrec`` command's public contract, driven through its real entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from trustrec import cli
from trustrec.data import synthetic


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``trustrec ARGS`` in-process; return (exit status, stdout, stderr)."""
    argv, sys.argv = sys.argv, ["trustrec", *map(str, args)]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    ds = synthetic.generate(n_users=120, n_items=80, n_interactions=3000, seed=3)
    return synthetic.to_files(ds, tmp_path_factory.mktemp("synthetic"))


def test_train_recommend_predict_round_trip(capsys, tmp_path, files) -> None:
    model_dir = tmp_path / "model"
    code, _out, err = run(capsys, "train", "--interactions", files["interactions"],
                         "--items", files["items"], "--model", "itemknn", "--param", "k=20",
                         "--out", model_dir)
    assert code == 0, err
    assert (model_dir / "manifest.json").is_file()

    train = pd.read_csv(files["interactions"], dtype=str)
    users_file = tmp_path / "users.txt"
    wanted = [*train["user_id"].unique()[:5], "nobody"]
    users_file.write_text("\n".join(wanted) + "\n")
    recs_path = tmp_path / "recs.csv"
    code, _out, err = run(capsys, "recommend", "--model-dir", model_dir, "--users", users_file,
                         "--k", 7, "--out", recs_path)
    assert code == 0, err
    assert "1 unknown user" in err
    recs = pd.read_csv(recs_path, dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    assert list(recs["user_id"].unique()) == wanted  # order kept, IDs exactly as given
    assert (recs.groupby("user_id").size() == 7).all()
    seen = set(zip(train["user_id"], train["item_id"], strict=True))
    known = recs[recs["user_id"] != "nobody"]
    assert not any(pair in seen for pair in zip(known["user_id"], known["item_id"], strict=True))

    pairs = tmp_path / "pairs.csv"
    train.head(10)[["user_id", "item_id"]].to_csv(pairs, index=False)
    preds = tmp_path / "preds.csv"
    code, _, err = run(capsys, "predict", "--model-dir", model_dir, "--pairs", pairs,
                       "--out", preds)
    assert code == 0, err
    out_frame = pd.read_csv(preds, dtype={"user_id": str, "item_id": str})
    assert list(out_frame.columns) == ["user_id", "item_id", "prediction"]
    assert out_frame["user_id"].tolist() == train["user_id"].head(10).tolist()


def test_string_ids_round_trip_exactly(capsys, tmp_path) -> None:
    frame = pd.DataFrame({"user_id": ["007", "007", "7", "7", "0x1", "0x1"],
                          "item_id": ["01", "1", "1", "A-1", "01", "A-1"],
                          "rating": [5, 3, 4, 2, 5, 1]})
    data = tmp_path / "ratings.csv"
    frame.to_csv(data, index=False)
    model_dir = tmp_path / "m"
    assert run(capsys, "train", "--interactions", data, "--model", "popularity",
               "--out", model_dir)[0] == 0
    users = tmp_path / "u.txt"
    users.write_text("007\n7\n")
    recs = tmp_path / "r.csv"
    code, _, err = run(capsys, "recommend", "--model-dir", model_dir, "--users", users,
                       "--k", 3, "--out", recs)
    assert code == 0, err
    got = pd.read_csv(recs, dtype=str)
    assert got.loc[got["user_id"] == "007", "item_id"].tolist() == ["A-1"]
    assert got.loc[got["user_id"] == "7", "item_id"].tolist() == ["01"]


def test_mf_predictions_stay_on_the_rating_scale(capsys, tmp_path, files) -> None:
    model_dir = tmp_path / "mf"
    code, _, err = run(capsys, "train", "--interactions", files["interactions"], "--model", "mf",
                       "--out", model_dir, "--seed", 1)
    assert code == 0, err
    pairs = tmp_path / "pairs.csv"
    pd.read_csv(files["interactions"], dtype=str).head(50)[["user_id", "item_id"]].to_csv(
        pairs, index=False)
    preds = tmp_path / "p.csv"
    assert run(capsys, "predict", "--model-dir", model_dir, "--pairs", pairs,
               "--out", preds)[0] == 0
    values = pd.read_csv(preds)["prediction"]
    assert values.between(1, 5).all()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("user,thing\n1,2\n", "item_id"),
        ("user_id,item_id,rating\n1,2,5\n1,3,high\n", "line 3"),
        ("", "empty"),
    ],
)
def test_bad_input_gives_one_clear_line(capsys, tmp_path, content, expected) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    code, _, err = run(capsys, "train", "--interactions", bad, "--model", "ease",
                       "--out", tmp_path / "m")
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert expected in lines[0] and "bad.csv" in lines[0]


def test_unknown_model_and_tampered_artifact(capsys, tmp_path, files) -> None:
    code, _, err = run(capsys, "train", "--interactions", files["interactions"],
                       "--model", "nope", "--out", tmp_path / "m")
    assert code == 2 and "unknown model 'nope'" in err
    model_dir = tmp_path / "pop"
    assert run(capsys, "train", "--interactions", files["interactions"], "--model",
               "popularity", "--out", model_dir)[0] == 0
    victim = next(model_dir.glob("state.*.npy"))
    victim.write_bytes(victim.read_bytes()[:-4] + b"\0\0\0\0")
    users = tmp_path / "u.txt"
    users.write_text("u00001\n")
    code, _, err = run(capsys, "recommend", "--model-dir", model_dir, "--users", users,
                       "--out", tmp_path / "r.csv")
    assert code == 2 and "SHA-256" in err and "Traceback" not in err


def test_evaluate_split_and_inspect(capsys, tmp_path, files) -> None:
    split_dir = tmp_path / "split"
    code, out, err = run(capsys, "data", "split", files["interactions"], "--out", split_dir,
                         "--method", "random", "--seed", 0)
    assert code == 0, err
    assert (split_dir / "train.csv").is_file() and (split_dir / "test.csv").is_file()
    metrics = tmp_path / "metrics.json"
    code, out, err = run(capsys, "evaluate", "--model", "popularity", "--model", "ease:l2=50",
                         "--train", split_dir / "train.csv", "--test", split_dir / "test.csv",
                         "--json", metrics)
    assert code == 0, err
    result = json.loads(metrics.read_text())
    names = [row["model"] for row in result["models"]]
    assert names == ["popularity", "ease(l2=50)"]
    assert all(0 <= row["ndcg@10"] <= 1 for row in result["models"])
    code, out, _ = run(capsys, "data", "inspect", files["interactions"])
    assert code == 0 and "interactions" in out


def test_list_and_exact_numeric_parameters_on_the_command_line(capsys, tmp_path,
                                                               files) -> None:
    model_dir = tmp_path / "ncf"
    code, _, err = run(capsys, "train", "--interactions", files["interactions"], "--model",
                       "ncf", "--param", "layers=16,8", "--param", "factors=4",
                       "--param", "epochs=1e0", "--out", model_dir)
    assert code == 0, err
    config = json.loads((model_dir / "manifest.json").read_text())["config"]
    assert (config["layers"], config["epochs"]) == ([16, 8], 1)
    code, _, err = run(capsys, "train", "--interactions", files["interactions"], "--model",
                       "ncf", "--param", "epochs=1.5e0", "--out", tmp_path / "bad")
    assert code == 2 and "parameter 'epochs' expects a whole number" in err
    split_dir = tmp_path / "split"
    assert run(capsys, "data", "split", files["interactions"], "--out", split_dir)[0] == 0
    metrics = tmp_path / "metrics.json"
    code, _, err = run(capsys, "evaluate", "--model", "ncf:layers=16,8,factors=4,epochs=1",
                       "--train", split_dir / "train.csv", "--test", split_dir / "test.csv",
                       "--json", metrics)
    assert code == 0, err
    assert json.loads(metrics.read_text())["runs"][0][0]["params"]["layers"] == "16,8"
    code, out, _ = run(capsys, "models")
    assert code == 0 and "layers=64,32,16," in out  # listed the way it is typed


def test_demo_writes_report(capsys, tmp_path, monkeypatch) -> None:
    code, out, err = run(capsys, "demo", "--out", tmp_path / "report", "--model", "popularity",
                         "--model", "itemknn", "--section", "none")
    assert code == 0, err
    html = (tmp_path / "report" / "index.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html
    assert "itemknn" in out


def test_demo_refuses_an_unknown_section(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "demo", "--out", tmp_path / "report", "--model", "popularity",
                       "--section", "astrology")
    assert code == 2 and "astrology" in err and "fairness" in err


def test_cli_on_movielens_latest_small(capsys, tmp_path, movielens_dir) -> None:
    data = movielens_dir / "ml-latest-small"
    model_dir = tmp_path / "m"
    code, _, err = run(capsys, "train", "--interactions", data / "ratings.csv", "--items",
                       data / "movies.csv", "--model", "ease", "--out", model_dir)
    assert code == 0, err
    users = tmp_path / "u.txt"
    users.write_text("1\n610\n")
    recs = tmp_path / "r.csv"
    code, _, err = run(capsys, "recommend", "--model-dir", model_dir, "--users", users,
                       "--k", 10, "--out", recs)
    assert code == 0, err
    got = pd.read_csv(recs, dtype=str)
    ratings = pd.read_csv(data / "ratings.csv", dtype=str)
    seen = set(ratings.loc[ratings["userId"] == "1", "movieId"])
    assert len(got) == 20 and not seen & set(got.loc[got["user_id"] == "1", "item_id"])

"""What a new user meets first, on synthetic data written in the MovieLens-100K layout:
item tables in every known format, titles wherever a person reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.test_cli import run
from trustrec.data import load, synthetic


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory) -> Path:
    ds = synthetic.generate(n_users=80, n_items=50, n_interactions=2000, seed=5)
    return synthetic.to_movielens_100k(ds, tmp_path_factory.mktemp("data") / "ml-100k")


def test_split_carries_the_item_table(capsys, tmp_path, ml100k) -> None:
    code, out, err = run(capsys, "data", "split", ml100k, "--out", tmp_path / "split")
    assert code == 0, err
    written = pd.read_csv(tmp_path / "split" / "items.csv", dtype=str)
    titles = load(ml100k).dataset.items["title"].tolist()
    assert written["title"].tolist() == titles
    assert (tmp_path / "split" / "users.csv").is_file() and "items.csv" in out


@pytest.mark.parametrize("items", ["folder", "u.item", "split"])
def test_titles_beside_ids_in_explain_and_history(capsys, tmp_path, ml100k, items) -> None:
    item_arg = {"folder": ml100k, "u.item": ml100k / "u.item",
                "split": tmp_path / "split" / "items.csv"}[items]
    assert run(capsys, "data", "split", ml100k, "--out", tmp_path / "split")[0] == 0
    model = tmp_path / "model"
    code, _, err = run(capsys, "train", "--interactions", tmp_path / "split" / "train.csv",
                       "--items", item_arg,
                       "--model", "itemknn", "--out", model)
    assert code == 0, err
    table = load(ml100k).dataset.items.set_index("item_id")["title"]

    code, out, err = run(capsys, "explain", "--model-dir", model, "--user", "1", "--k", 3,
                         "--items", item_arg, "--json")
    assert code == 0, err
    found = json.loads(out)
    assert [e["title"] for e in found] == [table[str(e["item_id"])] for e in found]
    code, out, err = run(capsys, "explain", "--model-dir", model, "--user", "1", "--k", 1,
                         "--items", item_arg)
    assert code == 0, err
    first = found[0]
    assert out.startswith(f"1. {first['item_id']} {first['title']} (")

    history = tmp_path / "hist.csv"
    code, out, err = run(capsys, "recommend", "--model-dir", model, "--history", "1,2,3",
                         "--k", 4, "--items", item_arg, "--out", history)
    assert code == 0, err
    frame = pd.read_csv(history, dtype={"item_id": str})
    assert list(frame.columns) == ["item_id", "title", "rank", "score"]
    assert frame["title"].tolist() == [table[i] for i in frame["item_id"]]
    assert frame["title"].iloc[0][:10] in out


def test_error_hints_name_the_flags_a_user_types(capsys, tmp_path, ml100k) -> None:
    dup = tmp_path / "dup.csv"
    dup.write_text("user_id,item_id,rating\n1,1,4\n1,1,5\n")
    code, _, err = run(capsys, "data", "inspect", dup)
    assert code == 2 and "--duplicates last" in err and "Traceback" not in err
    odd = tmp_path / "odd.csv"
    odd.write_text("person,film,stars\n1,1,4\n")
    code, _, err = run(capsys, "data", "inspect", odd)
    assert code == 2 and "--columns user_id=<column>" in err
    code, _, err = run(capsys, "evaluate", "--model", "popularity", "--data", ml100k,
                       "--protocol", "foo")
    assert code == 2 and "ml100k-folds" in err and "kfold" in err


def _command_paths(command, prefix=()):
    import click

    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _command_paths(sub, (*prefix, name))
    else:
        yield prefix


def test_help_at_80_columns_shows_every_option_name_whole(capsys, monkeypatch) -> None:
    import re

    import typer

    from trustrec.cli.common import app

    monkeypatch.setenv("COLUMNS", "80")
    paths = list(_command_paths(typer.main.get_command(app)))
    assert len(paths) > 10
    for path in paths:
        code, out, _ = run(capsys, *path, "--help")
        assert code == 0
        cut = re.findall(r"(?:^|\s)(--?[a-z][-\w]*…)", out, flags=re.MULTILINE)
        assert not cut, f"trustrec {' '.join(path)} --help cuts {cut}"


def test_version_and_rating_scale_from_the_command_line(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("trustrec ")
    ratings = tmp_path / "r.csv"
    ratings.write_text("user_id,item_id,rating,timestamp\n1,1,9,2024-05-01T12:00:00Z\n"
                       "2,1,7,2024-05-02T12:00:00Z\n")
    code, out, err = run(capsys, "data", "inspect", ratings, "--rating-scale", "0,10")
    assert code == 0, err
    assert "timestamps" in out
    code, _, err = run(capsys, "data", "inspect", ratings, "--rating-scale", "1,5")
    assert code == 2 and "outside the declared scale 1–5" in err
    code, _, err = run(capsys, "data", "inspect", ratings, "--rating-scale", "five")
    assert code == 2 and "--rating-scale" in err


def test_demo_reports_its_models_and_sections(tmp_path) -> None:
    from trustrec.demo import run_demo

    heard: list[tuple[str, int, int]] = []
    run_demo(specs=["popularity", "itemknn"], out_dir=tmp_path, sections=["fairness"],
             on_progress=lambda *step: heard.append(step))
    models = [(d, t) for w, d, t in heard if "models" in w]
    assert models == [(0, 2), (1, 2), (2, 2)]
    assert ("section fairness", 0, 1) in heard and ("section fairness", 1, 1) in heard
    assert heard[-1] == ("report sections", 1, 1)


def test_train_out_onto_a_file_is_one_clear_line(capsys, tmp_path, ml100k) -> None:
    taken = tmp_path / "model.txt"
    taken.write_text("not a model")
    code, _, err = run(capsys, "train", "--interactions", ml100k, "--model", "popularity",
                       "--out", taken)
    flat = re.sub(r"[\s│]+", " ", err)  # rich boxes the usage error
    assert code == 2 and "is a file; give a directory" in flat and "Traceback" not in err
    assert taken.read_text() == "not a model"  # nothing already stored is lost

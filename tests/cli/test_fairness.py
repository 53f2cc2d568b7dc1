"""``trustrec audit fairness`` and ``trustrec explain`` through the real entry point."""

from __future__ import annotations

import json

import pandas as pd

from tests.cli.test_cli import run
from trustrec.data import synthetic


def test_audit_fairness_writes_json_csv_and_html(capsys, tmp_path) -> None:
    ds = synthetic.generate(n_users=120, n_items=60, n_interactions=2500, seed=5)
    files = synthetic.to_files(ds, tmp_path / "data")
    out = tmp_path / "audit"
    code, stdout, stderr = run(capsys, "audit", "fairness", "--interactions",
                               files["interactions"], "--users", files["users"], "--items",
                               files["items"], "--model", "itemknn", "--param", "k=20",
                               "--group", "gender", "--group", "activity", "--k", 5,
                               "--rerank", "xquad", "--out", out)
    assert code == 0, stderr
    assert "group gaps" in stdout
    report = json.loads((out / "fairness.json").read_text())
    assert set(report["groups"]) == {"gender", "activity"}
    assert report["metrics"]["ndcg@5"] > 0
    assert len(report["frontier"]) == 5
    groups = pd.read_csv(out / "groups.csv")
    assert set(groups["group"]) == {"F", "M", "low", "medium", "high"}
    assert (out / "categories.csv").is_file() and (out / "frontier.csv").is_file()
    assert "<img" in (out / "fairness.html").read_text()
    assert "fairness.html" in (out / "index.html").read_text()

    code, _, stderr = run(capsys, "audit", "fairness", "--interactions", files["interactions"],
                          "--users", files["users"], "--model", "itemknn", "--group", "shoe",
                          "--out", out)
    assert code == 2 and "no column 'shoe'" in stderr


def test_explain_prints_reasons_and_refuses_unknown_users(capsys, tmp_path) -> None:
    ds = synthetic.generate(n_users=80, n_items=50, n_interactions=1500, seed=6)
    files = synthetic.to_files(ds, tmp_path / "data")
    model_dir = tmp_path / "model"
    code, _, stderr = run(capsys, "train", "--interactions", files["interactions"], "--model",
                          "ease", "--param", "l2=30", "--out", model_dir)
    assert code == 0, stderr
    user = str(ds.user_index.ids[0])
    code, stdout, stderr = run(capsys, "explain", "--model-dir", model_dir, "--user", user,
                               "--items", files["items"], "--k", 3)
    assert code == 0, stderr
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 3 and "Because you rated" in lines[0]
    item = str(ds.item_index.ids[7])
    code, stdout, stderr = run(capsys, "explain", "--model-dir", model_dir, "--user", user,
                               "--item", item, "--json")
    assert code == 0, stderr
    payload = json.loads(stdout)
    assert payload[0]["item_id"] == item and payload[0]["kind"] == "collaborative"
    code, _, stderr = run(capsys, "explain", "--model-dir", model_dir, "--user", "nobody")
    assert code == 2 and "unknown user" in stderr

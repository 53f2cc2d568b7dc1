"""``--engine spark`` on the command line: same flags, same artifact, usual recommend path."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.cli.test_cli import run
from trustrec.data import synthetic

pytest.importorskip("pyspark")


def test_train_with_spark_then_recommend_as_usual(spark, capsys, tmp_path) -> None:
    files = synthetic.to_files(synthetic.generate(n_users=40, n_items=25, n_interactions=500,
                                                  seed=8), tmp_path / "data")
    model_dir = tmp_path / "model"
    code, out, err = run(capsys, "train", "--engine", "spark", "--spark-master", "local[1]",
                         "--interactions", files["interactions"], "--model", "als",
                         "--param", "factors=4", "--param", "iterations=2",
                         "--param", "regularization=0.1", "--out", model_dir)
    assert code == 0, err
    assert "with Spark" in out
    users = tmp_path / "users.txt"
    users.write_text("u00001\nu00002\nnobody\n")
    recs_path = tmp_path / "recs.csv"
    code, _, err = run(capsys, "recommend", "--model-dir", model_dir, "--users", users,
                       "--k", 3, "--out", recs_path)
    assert code == 0, err
    recs = pd.read_csv(recs_path, dtype=str)
    assert recs.groupby("user_id").size().to_dict() == {"u00001": 3, "u00002": 3, "nobody": 3}


@pytest.mark.parametrize("args, message", [
    (["train", "--engine", "spark", "--model", "ease"], "trains the 'als' model only"),
    (["train", "--engine", "flink", "--model", "als"], "--engine 'flink'"),
    (["evaluate", "--engine", "spark", "--model", "als:bm25=true"], "bm25"),
])
def test_spark_engine_errors_are_one_line(capsys, tmp_path, args, message) -> None:
    data = tmp_path / "r.csv"
    data.write_text("user_id,item_id\nu1,i1\n")
    extra = ["--train", data, "--test", data] if args[0] == "evaluate" else \
        ["--interactions", data, "--out", tmp_path / "m"]
    code, _, err = run(capsys, *args, *extra)
    assert code == 2
    assert message in err and err.count("\n") == 1

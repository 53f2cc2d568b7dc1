"""``trustrec encode`` and ``trustrec search`` with the bundled encoder on tiny synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli.test_cli import run
from tests.models.test_content import encoder, text_model
from trustrec.data import readers, synthetic
from trustrec.data.synthetic import TOPICS
from trustrec.text import ItemVectors, build_item_texts


@pytest.fixture(scope="module")
def data() -> synthetic.Dataset:
    return synthetic.generate(n_users=50, n_items=30, n_interactions=600, n_topics=4, seed=2)


@pytest.fixture(scope="module")
def files(data, tmp_path_factory) -> dict[str, Path]:
    return synthetic.to_files(data, tmp_path_factory.mktemp("text_cli"))


@pytest.fixture(scope="module")
def model_dir(data, tmp_path_factory) -> Path:
    """A content model fitted on ``data`` and saved (as `trustrec train` would)."""
    return text_model("content").fit(data).save(tmp_path_factory.mktemp("model") / "content")


def test_encode_writes_vectors_and_reencodes_only_new_items(capsys, tmp_path, files) -> None:
    out = tmp_path / "vectors"
    code, stdout, err = run(capsys, "encode", "--items", files["items"], "--out", out,
                            "--fields", "title,genres")
    assert code == 0, err
    assert "encoded 30 new text(s) for 30 items" in stdout
    stored = ItemVectors.load(out)
    items = readers.read_items(files["items"])
    assert stored.item_ids.tolist() == items["item_id"].tolist()
    assert stored.fields == ("title", "genres")
    expected = encoder().encode(build_item_texts(items, fields=["title", "genres"]))
    np.testing.assert_allclose(stored.vectors, expected, atol=1e-5)

    code, stdout, err = run(capsys, "encode", "--items", files["items"], "--out", out,
                            "--fields", "title,genres")
    assert code == 0, err
    assert "nothing to encode" in stdout
    np.testing.assert_array_equal(ItemVectors.load(out).vectors, stored.vectors)

    grown = pd.concat([pd.read_csv(files["items"]),
                       pd.DataFrame({"item_id": ["new1", "new2"], "title": ["Robot Galaxy",
                                                                            ""],
                                     "genres": ["Sci-Fi", ""]})])
    grown_path = tmp_path / "grown.csv"
    grown.to_csv(grown_path, index=False)
    code, stdout, err = run(capsys, "encode", "--items", grown_path, "--out", out,
                            "--fields", "title,genres")
    assert code == 0, err
    assert "encoded 1 new text(s) for 32 items" in stdout
    assert "1 item(s) have no text" in err
    bigger = ItemVectors.load(out)
    np.testing.assert_array_equal(bigger.vectors[:30], stored.vectors)
    assert not bigger.vectors[31].any() and bigger.vectors[30].any()


def test_encode_backend_option_is_part_of_the_vectors_id(capsys, tmp_path, files) -> None:
    for backend in ("torch", "onnx"):
        code, _out, err = run(capsys, "encode", "--items", files["items"], "--out",
                              tmp_path / backend, "--fields", "title", "--no-quantize",
                              "--backend", backend)
        assert code == 0, err
    by_torch, by_onnx = (ItemVectors.load(tmp_path / b) for b in ("torch", "onnx"))
    assert by_torch.model_id.endswith(";max_seq_length=128")
    assert by_onnx.model_id.endswith(";max_seq_length=128;onnx")
    np.testing.assert_allclose(by_onnx.vectors, by_torch.vectors, atol=1e-4)
    code, _out, err = run(capsys, "encode", "--items", files["items"], "--out", tmp_path,
                          "--backend", "tensorflow")
    assert code == 2 and "backend='tensorflow'" in err


def test_encode_refuses_a_missing_field(capsys, tmp_path, files) -> None:
    code, _out, err = run(capsys, "encode", "--items", files["items"], "--out", tmp_path,
                          "--fields", "title,plot")
    assert code == 2
    assert err.startswith("error:") and "'plot'" in err


def test_search_prints_the_topic_items_and_writes_csv(capsys, tmp_path, data,
                                                      model_dir) -> None:
    csv = tmp_path / "found.csv"
    code, stdout, err = run(capsys, "search", " ".join(TOPICS["Crime"][:6]), "--model-dir",
                            model_dir, "--k", 3, "--out", csv)
    assert code == 0, err
    found = pd.read_csv(csv)
    assert list(found.columns) == ["item_id", "title", "rank", "score"]
    assert found["rank"].tolist() == [1, 2, 3] and found["score"].is_monotonic_decreasing
    genres = data.items.set_index("item_id")["genres"]
    assert all("Crime" in genres[i] for i in found["item_id"])
    for title in found["title"]:
        assert title in stdout


def test_search_for_a_user_leaves_out_seen_items(capsys, tmp_path, data, model_dir) -> None:
    user = str(data.user_index.ids[0])
    csv = tmp_path / "found.csv"
    code, _out, err = run(capsys, "search", "space robots", "--model-dir", model_dir,
                          "--user", user, "--exclude-seen", "--k", 5, "--out", csv)
    assert code == 0, err
    seen = set(data.item_index.ids[data.item[data.user == 0]])
    found = pd.read_csv(csv)["item_id"]
    assert len(found) == 5 and not seen & set(found)


@pytest.mark.parametrize(("args", "message"), [
    (["   "], "query is empty"),
    (["space", "--user", "nobody"], "unknown user"),
])
def test_search_errors_are_one_line(capsys, model_dir, args, message) -> None:
    code, _out, err = run(capsys, "search", *args, "--model-dir", model_dir)
    assert code == 2
    assert err.startswith("error:") and message in err


def test_search_needs_a_text_model(capsys, tmp_path, files) -> None:
    model_dir = tmp_path / "pop"
    code, _out, err = run(capsys, "train", "--interactions", files["interactions"], "--model",
                          "popularity", "--out", model_dir)
    assert code == 0, err
    code, _out, err = run(capsys, "search", "space", "--model-dir", model_dir)
    assert code == 2
    assert "has no item text vectors" in err

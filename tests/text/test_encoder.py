"""TextEncoder with the bundled all-MiniLM-L6-v2 (fixtures in conftest.py: offline, loaded
once per session)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sentence_transformers import SentenceTransformer

from trustrec.data import Dataset
from trustrec.errors import ConfigError, DataError
from trustrec.text import EmbeddingCache, TextEncoder, build_item_texts, default_model_path

TITLES = [
    "Star Wars: Episode IV - A New Hope (1977). Genres: Action, Adventure, Sci-Fi",
    "Notting Hill (1999). Genres: Comedy, Romance",
    "Toy Story (1995). Genres: Adventure, Animation, Children, Comedy, Fantasy",
    "Heat (1995). Genres: Action, Crime, Thriller",
    "Sense and Sensibility (1995). Genres: Drama, Romance",
]


@pytest.fixture
def forward_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batch sizes of every model forward pass made during the test."""
    calls: list[int] = []
    original = SentenceTransformer.forward

    def counting(self: SentenceTransformer, features: dict, **kwargs: object) -> dict:
        calls.append(len(features["input_ids"]))
        return original(self, features, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "forward", counting)
    return calls


@pytest.fixture
def cached(fp32: TextEncoder, tmp_path: Path) -> Iterator[TextEncoder]:
    """The module's float32 encoder with a fresh cache folder."""
    fp32.cache = EmbeddingCache(tmp_path / "cache")
    yield fp32
    fp32.cache = None


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_bundled_model_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = TextEncoder(show_progress=False)
    vec = enc.encode(["offline"])
    assert vec.shape == (1, 384) and enc.dim == 384


def test_unit_float32_rows_and_zero_for_empty(encoder: TextEncoder) -> None:
    vec = encoder.encode([*TITLES, "", "   "])
    assert vec.dtype == np.float32 and vec.shape == (len(TITLES) + 2, 384)
    np.testing.assert_allclose(np.linalg.norm(vec[:-2], axis=1), 1.0, atol=1e-5)
    assert not vec[-2:].any()
    assert encoder.encode([]).shape == (0, 384)


def test_matches_plain_sentence_transformers(encoder: TextEncoder, fp32: TextEncoder) -> None:
    plain = SentenceTransformer(str(default_model_path()), device="cpu")
    expected = plain.encode(TITLES, normalize_embeddings=True)
    np.testing.assert_allclose(fp32.encode(TITLES), expected, atol=1e-5)
    assert np.einsum("ij,ij->i", encoder.encode(TITLES), expected).min() >= 0.99


def test_deterministic_across_calls_threads_and_batches(
        encoder: TextEncoder, fp32: TextEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    many = TITLES * 3 + [f"{t} (extended cut, remastered)" for t in TITLES]
    first, first_int8 = fp32.encode(many), encoder.encode(many)
    np.testing.assert_array_equal(fp32.encode(many), first)
    np.testing.assert_array_equal(encoder.encode(many), first_int8)
    for enc in (fp32, encoder):
        monkeypatch.setattr(enc, "threads", 2)
        monkeypatch.setattr(enc, "batch_size", 2)
    np.testing.assert_allclose(fp32.encode(many), first, atol=1e-5)
    # int8 activation scales are per batch: other batches, slightly other vectors
    assert np.einsum("ij,ij->i", encoder.encode(many), first_int8).min() >= 0.99
    # alone, the text is padded differently: float rounding only
    np.testing.assert_allclose(fp32.encode([TITLES[0]])[0], first[0], atol=1e-5)


def test_normalised_text_gives_the_same_vector(encoder: TextEncoder) -> None:
    a, b = encoder.encode(["Toy Story (1995)", "  Ｔｏｙ\u00a0Story\n(1995) "])
    np.testing.assert_array_equal(a, b)


def test_semantic_sanity(encoder: TextEncoder) -> None:
    sci_fi, romance = encoder.encode(TITLES[:2])
    space, love = encoder.encode(["space adventure with aliens", "a love story in London"])
    assert cos(space, sci_fi) > cos(space, romance) + 0.05
    assert cos(love, romance) > cos(love, sci_fi) + 0.05


def test_encode_items_aligned_with_item_index(encoder: TextEncoder) -> None:
    frame = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["b", "a", "b"]})
    items = pd.DataFrame({"item_id": ["a", "b", "c"],
                          "title": ["Heat (1995)", "Notting Hill (1999)", None],
                          "genres": ["Action|Crime", "Comedy|Romance", None]})
    data = Dataset.from_frame(frame, value_col=None, items=items)
    vec = encoder.encode_items(data)
    assert vec.shape == (data.n_items, 384)
    order = data.item_index.to_external(np.arange(data.n_items))
    by_id = dict(zip(items["item_id"], build_item_texts(items), strict=True))
    expected = encoder.encode([by_id[i] for i in order])
    np.testing.assert_array_equal(vec, expected)
    c = data.item_index.lookup(np.array(["c"]))[0]
    assert not vec[c].any()  # no text → zero vector
    with pytest.raises(DataError, match="no item table"):
        encoder.encode_items(Dataset.from_frame(frame, value_col=None))


def test_bad_input(encoder: TextEncoder) -> None:
    with pytest.raises(DataError, match=r"texts\[1\] is float"):
        encoder.encode(["ok", float("nan")])
    with pytest.raises(ConfigError, match="one str"):
        encoder.encode("just one")
    with pytest.raises(ConfigError, match="batch_size"):
        TextEncoder(batch_size=0)


def test_construction_is_lazy_and_load_errors_name_the_model() -> None:
    enc = TextEncoder("no-such-org/no-such-model")  # nothing loaded yet
    with pytest.raises(ConfigError, match="no-such-org/no-such-model"):
        enc.encode(["x"])
    with pytest.raises(ConfigError, match="does not exist"):
        TextEncoder(Path("/nonexistent/model")).encode(["x"])


def test_model_id_tracks_model_files_and_settings(tmp_path: Path) -> None:
    def files_digest(model_id: str) -> str:
        return model_id.split("@")[1].split(";")[0]

    base = TextEncoder().model_id
    assert base.startswith("sentence-transformers/all-MiniLM-L6-v2@")
    assert TextEncoder().model_id == base
    assert TextEncoder(max_seq_length=64).model_id != base
    ids = {TextEncoder(backend=backend, quantize=quantize).model_id
           for backend in ("onnx", "torch") for quantize in (None, True, False)}
    assert len(ids) == 6 and base in ids  # vectors of other backends never mix in a cache
    # the torch ids of earlier versions stay valid (their caches are still hit)
    assert TextEncoder(backend="torch").model_id.endswith(";max_seq_length=128;int8-smooth-auto")
    assert base.endswith(";max_seq_length=128;onnx;int8-auto")
    copy = tmp_path / "model"
    shutil.copytree(default_model_path(), copy,
                    copy_function=lambda src, dst: Path(dst).symlink_to(src))
    assert files_digest(TextEncoder(copy).model_id) == files_digest(base)
    (copy / "config_sentence_transformers.json").unlink()
    (copy / "config_sentence_transformers.json").write_text("{}")
    assert files_digest(TextEncoder(copy).model_id) != files_digest(base)


def test_cache_hit_never_calls_the_model(cached: TextEncoder, forward_calls: list[int]) -> None:
    assert not cached.encode(["", " "]).any()
    first = cached.encode(TITLES)
    assert sum(forward_calls) == len(TITLES)
    forward_calls.clear()
    again = cached.encode(list(reversed(TITLES)))
    assert forward_calls == []
    np.testing.assert_array_equal(again, first[::-1])


def test_cache_partial_miss_encodes_only_new_texts(
        cached: TextEncoder, forward_calls: list[int]) -> None:
    cached.encode(TITLES[:3])
    forward_calls.clear()
    vec = cached.encode(TITLES)
    assert sum(forward_calls) == 2
    cached.cache = None
    np.testing.assert_allclose(vec, cached.encode(TITLES), atol=1e-5)


def test_cache_ignores_other_models_and_corrupt_files(cached: TextEncoder) -> None:
    assert cached.cache is not None
    cached.cache.put("some/other-model@0;max_seq_length=128", TITLES,
                     np.ones((len(TITLES), 384), np.float32))
    vec = cached.encode(TITLES)
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0)
    assert not np.allclose(vec, vec[0])  # not the other model's constant rows
    for npy in cached.cache.directory.rglob("*.npy"):
        npy.write_bytes(npy.read_bytes()[:-8])  # truncate every stored array
    cached.cache = EmbeddingCache(cached.cache.directory)
    with pytest.warns(RuntimeWarning, match="embedding cache"):
        again = cached.encode(TITLES)
    np.testing.assert_array_equal(again, vec)


def test_no_progress_output_off_terminal(encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(encoder, "show_progress", None)
    encoder.encode(["quiet please"])
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(encoder, "show_progress", True)
    encoder.encode(["loud please"])
    assert "Encoding texts" in capsys.readouterr().err


def pair(backend: str, request: pytest.FixtureRequest) -> tuple[TextEncoder, TextEncoder]:
    """The session's default (int8 where kept) and float32 encoders of ``backend``."""
    names = ("encoder", "fp32") if backend == "torch" else ("onnx_encoder", "onnx_fp32")
    default, fp32 = (request.getfixturevalue(name) for name in names)
    assert default.backend == fp32.backend == backend
    return default, fp32


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_int8_by_default_close_to_float32(backend: str, request: pytest.FixtureRequest) -> None:
    encoder, fp32 = pair(backend, request)
    assert encoder.int8 is True and fp32.int8 is False
    cosines = np.einsum("ij,ij->i", encoder.encode(TITLES), fp32.encode(TITLES))
    assert cosines.min() >= 0.99 and cosines.max() < 1 - 1e-6  # close, yet really int8


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_float32_when_int8_fails_the_calibration_check(
        backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    _, fp32 = pair(backend, request)
    monkeypatch.setattr("trustrec.text.encoder.MIN_INT8_COSINE", 1.01)  # no int8 model passes
    fallback = TextEncoder(backend=backend, show_progress=False)
    np.testing.assert_allclose(fallback.encode(TITLES), fp32.encode(TITLES), atol=1e-5)
    assert fallback.int8 is False

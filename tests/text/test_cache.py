"""EmbeddingCache: keyed by model and text, append-only, corruption-tolerant, no pickle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from trustrec.errors import DataError
from trustrec.text import EmbeddingCache

TEXTS = ["alpha", "beta", "gamma"]


def vectors(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    """Random unit rows."""
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def chunk_files(root: Path, suffix: str) -> list[Path]:
    return sorted(root.rglob(f"*{suffix}"))


def test_put_then_get_in_order_with_mask(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    v = vectors(3)
    assert cache.put("m", TEXTS, v) == 3
    got, hit = cache.get("m", ["gamma", "delta", "alpha"])
    assert hit.tolist() == [True, False, True]
    np.testing.assert_array_equal(got, v[[2, 0]])
    assert got.dtype == np.float32


def test_persists_across_instances_and_normalises_keys(tmp_path: Path) -> None:
    v = vectors(3)
    EmbeddingCache(tmp_path).put("m", TEXTS, v)
    got, hit = EmbeddingCache(tmp_path).get("m", ["  beta ", "Beta"])
    assert hit.tolist() == [True, False]
    np.testing.assert_array_equal(got, v[[1]])


def test_empty_cache_returns_no_hits(tmp_path: Path) -> None:
    got, hit = EmbeddingCache(tmp_path / "absent").get("m", TEXTS)
    assert got.shape == (0, 0)
    assert not hit.any()


def test_other_model_never_sees_the_vectors(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.put("model-a", TEXTS, vectors(3))
    got, hit = cache.get("model-b", TEXTS)
    assert not hit.any()
    assert got.shape[0] == 0


def test_put_is_append_only_and_stores_only_new_texts(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    v = vectors(3)
    cache.put("m", TEXTS[:2], v[:2])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert cache.put("m", TEXTS, v) == 1  # only "gamma" is new
    assert cache.put("m", TEXTS, v) == 0
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(after[p] == data for p, data in before.items())
    assert len(after) == len(before) + 2  # one .npy and one .json
    assert not list(tmp_path.rglob("*.tmp"))
    index = json.loads(next(p for p in after if p not in before and p.suffix == ".json")
                       .read_text())
    assert index["shape"] == [1, 4] and len(index["keys"]) == 1
    got, hit = EmbeddingCache(tmp_path).get("m", TEXTS)
    assert hit.all()
    np.testing.assert_array_equal(got, v)


def test_corrupted_array_is_ignored_with_a_warning(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.put("m", TEXTS, vectors(3))
    npy = chunk_files(tmp_path, ".npy")[0]
    data = bytearray(npy.read_bytes())
    data[-3] ^= 0xFF
    npy.write_bytes(bytes(data))
    fresh = EmbeddingCache(tmp_path)
    with pytest.warns(RuntimeWarning, match="SHA-256"):
        got, hit = fresh.get("m", TEXTS)
    assert not hit.any()
    assert chunk_files(tmp_path, ".json.corrupt")
    # the texts are stored again and then found, without further warnings
    v = vectors(3, seed=1)
    assert fresh.put("m", TEXTS, v) == 3
    got, hit = EmbeddingCache(tmp_path).get("m", TEXTS)
    assert hit.all()
    np.testing.assert_array_equal(got, v)


def test_unreadable_index_is_ignored_with_a_warning(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path).put("m", TEXTS, vectors(3))
    chunk_files(tmp_path, ".json")[0].write_text("{not json")
    with pytest.warns(RuntimeWarning, match="unreadable index"):
        _, hit = EmbeddingCache(tmp_path).get("m", TEXTS)
    assert not hit.any()


def test_shape_mismatch_is_detected(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path).put("m", TEXTS, vectors(3))
    index_file = chunk_files(tmp_path, ".json")[0]
    index = json.loads(index_file.read_text())
    index["shape"] = [3, 5]
    index_file.write_text(json.dumps(index))
    with pytest.warns(RuntimeWarning, match="float32"):
        _, hit = EmbeddingCache(tmp_path).get("m", TEXTS)
    assert not hit.any()


def test_pickled_arrays_are_never_loaded(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path).put("m", TEXTS, vectors(3))
    index_file = chunk_files(tmp_path, ".json")[0]
    npy = index_file.with_suffix(".npy")
    np.save(npy, np.array([{"evil": 1}] * 3, dtype=object), allow_pickle=True)
    index = json.loads(index_file.read_text())
    index["sha256"] = hashlib.sha256(npy.read_bytes()).hexdigest()  # hash matches the file
    index_file.write_text(json.dumps(index))
    with pytest.warns(RuntimeWarning, match="pickle"):
        _, hit = EmbeddingCache(tmp_path).get("m", TEXTS)
    assert not hit.any()


@pytest.mark.parametrize(("bad", "match"), [
    (vectors(2), r"shape \(2, 4\)"),
    (np.full((3, 4), np.nan, dtype=np.float32), "NaN"),
    (vectors(3, dim=5), "4-d vectors"),
])
def test_put_validates_vectors(tmp_path: Path, bad: np.ndarray, match: str) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.put("m", ["other"], vectors(1))
    with pytest.raises(DataError, match=match):
        cache.put("m", TEXTS, bad)

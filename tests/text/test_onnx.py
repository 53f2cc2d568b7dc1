"""The ONNX Runtime backend: same vectors as torch, one export per model, tampering refused,
torch when onnxruntime is missing.

Fidelity is checked on the bundled model (exported once per session, see conftest.py); the
cache and tampering tests use a tiny random BERT built here, which exports in a second.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from trustrec.errors import ConfigError
from trustrec.text import TextEncoder, default_model_path, onnx_backend

TEXTS = [
    "Star Wars: Episode IV - A New Hope (1977). Genres: Action, Adventure, Sci-Fi",
    "Notting Hill (1999). Genres: Comedy, Romance",
    "Heat (1995). Genres: Action, Crime, Thriller",
    "A paperback thriller about a detective hunting a killer in Oslo, with a long and "
    "winding plot that spans three decades and two continents, told in flashbacks",
    "light-hearted space adventure",
]


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-d random BERT sentence model with the bundled model's tokenizer."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import AutoTokenizer, BertConfig, BertModel

    root = tmp_path_factory.mktemp("tiny-model")
    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()))
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32,
                                num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=128))
    bert.save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    model = SentenceTransformer(modules=[Transformer(str(root / "bert"), max_seq_length=64),
                                         Pooling(32, "mean")], device="cpu")
    model.save(str(root / "model"))
    return root / "model"


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders of every ONNX export made during the test."""
    made: list[Path] = []
    original = onnx_backend._export

    def counting(model: object, folder: Path, *args: object, **kwargs: object) -> object:
        made.append(folder)
        return original(model, folder, *args, **kwargs)

    monkeypatch.setattr(onnx_backend, "_export", counting)
    return made


def tiny(model: Path, export_dir: Path, **settings: object) -> TextEncoder:
    return TextEncoder(model, quantize=False, show_progress=False, export_dir=export_dir,
                       **settings)  # type: ignore[arg-type]


@pytest.fixture
def exported(tiny_model: Path, tmp_path: Path, exports: list[Path]) -> Path:
    """The folder of a fresh export of the tiny model (made here, then forgotten by
    ``exports``)."""
    tiny(tiny_model, tmp_path).encode(TEXTS)
    assert len(exports) == 1 and exports[0].parent == tmp_path
    return exports.pop()


# ---------------------------------------------------------------------- fidelity
def test_onnx_float32_matches_torch_float32(onnx_fp32: TextEncoder, fp32: TextEncoder) -> None:
    assert onnx_fp32.backend == "onnx" and onnx_fp32.int8 is False
    onnx, reference = onnx_fp32.encode(TEXTS), fp32.encode(TEXTS)
    assert row_cosines(onnx, reference).min() >= 0.999
    np.testing.assert_allclose(onnx, reference, atol=1e-4)


def test_onnx_int8_kept_only_where_calibration_holds(
        onnx_encoder: TextEncoder, fp32: TextEncoder) -> None:
    assert onnx_encoder.int8 is True  # the bundled model passes the calibration check
    cosines = row_cosines(onnx_encoder.encode(TEXTS), fp32.encode(TEXTS))
    assert cosines.min() >= 0.99 and cosines.max() < 1 - 1e-6  # close, yet really int8


def test_default_backend_is_onnx_and_shares_the_session_export(
        onnx_encoder: TextEncoder, exports: list[Path]) -> None:
    default = TextEncoder(show_progress=False)
    assert default.backend == "onnx" and default.model_id == onnx_encoder.model_id
    np.testing.assert_array_equal(default.encode(TEXTS), onnx_encoder.encode(TEXTS))
    assert exports == []  # loaded from the session's cache folder, not exported again


# ---------------------------------------------------------------------- cache of exports
def test_second_construction_reuses_the_export(
        tiny_model: Path, exported: Path, exports: list[Path]) -> None:
    manifest = exported / onnx_backend.MANIFEST
    stamp = {p.name: p.stat().st_mtime_ns for p in exported.iterdir()}
    first = tiny(tiny_model, exported.parent).encode(TEXTS)
    again = tiny(tiny_model, exported.parent)
    np.testing.assert_array_equal(again.encode(TEXTS), first)
    assert exports == [] and again.backend == "onnx"
    assert {p.name: p.stat().st_mtime_ns for p in exported.iterdir()} == stamp
    assert json.loads(manifest.read_text())["files"].keys() == {"fp32"}


def test_changed_file_is_refused_and_exported_again(
        tiny_model: Path, exported: Path, exports: list[Path]) -> None:
    reference = tiny(tiny_model, exported.parent, backend="torch").encode(TEXTS)
    graph = exported / "model.fp32.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the weights
    graph.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="SHA-256 differs"):
        vectors = tiny(tiny_model, exported.parent).encode(TEXTS)
    assert exports == [exported]
    recorded = json.loads((exported / onnx_backend.MANIFEST).read_text())["files"]["fp32"]
    assert hashlib.sha256(graph.read_bytes()).hexdigest() == recorded["sha256"]
    np.testing.assert_allclose(vectors, reference, atol=1e-5)


def permuted_embeddings(data: bytes) -> bytes:
    """The graph with its largest weight (the token embeddings) in reverse row order."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(data)
    weights = max(proto.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    forged = numpy_helper.to_array(weights)[::-1].copy()
    weights.CopyFrom(numpy_helper.from_array(forged, weights.name))
    return proto.SerializeToString()


@pytest.mark.parametrize("forge", [permuted_embeddings, lambda data: b"not a graph" + data],
                         ids=["permuted-weights", "not-a-graph"])
def test_forged_graph_with_a_matching_manifest_is_refused(
        tiny_model: Path, exported: Path, exports: list[Path], forge) -> None:
    """An attacker who rewrites the graph *and* its manifest hash: the graph must still
    run and reproduce the torch model, so it is refused and exported again."""
    graph = exported / "model.fp32.onnx"
    graph.write_bytes(forge(graph.read_bytes()))
    manifest_file = exported / onnx_backend.MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest["files"]["fp32"]["sha256"] = hashlib.sha256(graph.read_bytes()).hexdigest()
    manifest_file.write_text(json.dumps(manifest))
    with pytest.warns(RuntimeWarning, match="refusing it and exporting again"):
        vectors = tiny(tiny_model, exported.parent).encode(TEXTS)
    assert exports == [exported]
    reference = tiny(tiny_model, exported.parent, backend="torch").encode(TEXTS)
    np.testing.assert_allclose(vectors, reference, atol=1e-5)


def test_stale_manifest_is_exported_again(
        tiny_model: Path, exported: Path, exports: list[Path]) -> None:
    manifest_file = exported / onnx_backend.MANIFEST
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps({**manifest, "format_version": 0}))
    tiny(tiny_model, exported.parent).encode(TEXTS)
    assert exports == [exported]
    assert json.loads(manifest_file.read_text())["format_version"] == \
        onnx_backend.FORMAT_VERSION


# ---------------------------------------------------------------------- fallback
def test_torch_when_onnxruntime_is_missing(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        exports: list[Path]) -> None:
    with_onnx = tiny(tiny_model, tmp_path).model_id
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    encoder = tiny(tiny_model, tmp_path)
    assert encoder.backend == "torch" and ";onnx" in with_onnx
    assert ";onnx" not in encoder.model_id
    vectors = encoder.encode(TEXTS)
    assert exports == [] and not list(tmp_path.iterdir())
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ConfigError, match="needs the package onnxruntime"):
        tiny(tiny_model, tmp_path, backend="onnx").encode(TEXTS)


def test_bad_backend_name() -> None:
    with pytest.raises(ConfigError, match="backend='tensorflow'"):
        TextEncoder(backend="tensorflow")

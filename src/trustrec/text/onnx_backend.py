"""The ONNX Runtime backend of ``TextEncoder``: export once, cache hash-checked, run.

A sentence-transformers model (transformer, pooling, normalisation) is exported once with
``torch.onnx.export`` (the TorchScript exporter; optimum is not used) into one ONNX graph
from token features to unit vectors, and, on request, an int8 copy is made with ONNX
Runtime's dynamic quantisation: per-channel int8 weights for every MatMul with a weight of
no more inputs than outputs (attention projections and feed-forward up-projections; the
down-projections stay float32, as in :mod:`trustrec.text.quantize`, because their
inputs' outliers cost too much accuracy).

The files live in ``<root>/<key>/`` (``key``: a digest of the model's files and of this
export format), with a ``manifest.json`` written last that records the SHA-256 of each
file. On load each file is read into memory, hashed and handed to ONNX Runtime as bytes (so
what runs is what was checked); a file whose hash differs from the manifest, or a manifest
of another model or format, is refused with a warning and exported again. A hash only
proves the files match their manifest, so the float32 graph must also reproduce the torch
model on :data:`~trustrec.text.quantize.CALIBRATION_TEXTS` (cosine ≥ :data:`FIDELITY`) on
every load, else it is discarded and exported again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trustrec.errors import ConfigError
from trustrec.text.cache import _atomic_write
from trustrec.text.quantize import min_cosine

FORMAT = "trustrec-onnx-encoder"
FORMAT_VERSION = 1
OPSET = 17
MANIFEST = "manifest.json"
#: Cosine the float32 export must keep to the torch model on the calibration texts.
FIDELITY = 0.999
_FILES = {"fp32": "model.fp32.onnx", "int8": "model.int8.onnx"}
log = logging.getLogger(__name__)


def available() -> bool:
    """Whether ONNX Runtime can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def default_root() -> Path:
    """Where exports are cached: ``$TRUSTREC_CACHE_DIR/onnx``, else
    ``$XDG_CACHE_HOME/trustrec/onnx``, else ``~/.cache/trustrec/onnx``."""
    if os.environ.get("TRUSTREC_CACHE_DIR"):
        return Path(os.environ["TRUSTREC_CACHE_DIR"]).expanduser() / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "trustrec" / "onnx"


class OnnxModel:
    """One ONNX graph in an ONNX Runtime session on one intra-op thread; several threads
    may call it at once (each batch then runs on its own core)."""

    def __init__(self, data: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no notes on the graph optimisations
        self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def __call__(self, features: Mapping[str, Any]) -> np.ndarray:
        """Unit float32 vectors of one batch of token features (torch tensors or arrays)."""
        feed = {name: np.asarray(features[name], dtype=np.int64) for name in self._inputs}
        return np.asarray(self._session.run(None, feed)[0], dtype=np.float32)


@dataclass(frozen=True)
class OnnxExport:
    """The loaded float32 graph, and the int8 one when it was asked for."""

    fp32: OnnxModel
    int8: OnnxModel | None


def load(model: Any, source_digest: str, root: Path, *, int8: bool,
         check: Callable[[OnnxModel], np.ndarray], reference: np.ndarray) -> OnnxExport:
    """The ONNX graphs of sentence-transformers ``model`` (whose files hash to
    ``source_digest``), from ``root`` or exported there now. ``check(graph)`` encodes the
    calibration texts with a graph; the float32 one must keep cosine ≥ :data:`FIDELITY` to
    ``reference`` (the torch model's vectors of those texts)."""
    folder = root / hashlib.sha256(
        f"{source_digest};{FORMAT}:{FORMAT_VERSION};opset={OPSET}".encode()).hexdigest()[:32]
    cached = _read(folder, source_digest, int8)
    if cached is not None:
        graphs, problem = _verified(cached, check, reference)
        if graphs is not None:
            return graphs
        _refuse(folder / _FILES["fp32"], problem)
    graphs, problem = _verified(_export(model, folder, source_digest, int8), check, reference)
    if graphs is None:
        raise ConfigError(f"ONNX export of the text model into {folder}: {problem}; use "
                          "backend='torch'")
    return graphs


def _verified(files: dict[str, bytes], check: Callable[[OnnxModel], np.ndarray],
              reference: np.ndarray) -> tuple[OnnxExport | None, str]:
    """The loaded graphs if ONNX Runtime accepts them and the float32 one agrees with
    ``reference``; else None and what was wrong."""
    try:
        fp32 = OnnxModel(files["fp32"])
        agreement = min_cosine(check(fp32), reference)
        int8 = OnnxModel(files["int8"]) if "int8" in files else None
    except Exception as exc:  # onnxruntime raises its own types for bad graphs
        return None, f"ONNX Runtime cannot run it ({type(exc).__name__}: {exc})"
    if not agreement >= FIDELITY:  # also NaN
        return None, (f"its vectors reach only cosine {agreement:.4f} to the torch model's "
                      f"(expected ≥ {FIDELITY})")
    return OnnxExport(fp32, int8), ""


def _read(folder: Path, source_digest: str, int8: bool) -> dict[str, bytes] | None:
    """The verified bytes of the cached files (None, with the reason logged or warned,
    when they are missing, stale or do not match their manifest)."""
    file = folder / MANIFEST
    if not file.is_file():
        return None
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
        hashes = {kind: str(entry["sha256"]) for kind, entry in manifest["files"].items()}
        current = (manifest["format"] == FORMAT and manifest["format_version"] == FORMAT_VERSION
                   and manifest["source"] == source_digest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        _refuse(file, f"unreadable manifest ({exc!r})")
        return None
    if not current:
        log.info("ONNX text model %s is from another model or format; exporting again", folder)
        return None
    kinds = ("fp32", "int8") if int8 else ("fp32",)
    if any(kind not in hashes for kind in kinds):
        return None  # e.g. exported without int8 before: export both now
    out = {}
    for kind in kinds:
        path = folder / _FILES[kind]
        try:
            data = path.read_bytes()
        except OSError as exc:
            _refuse(path, f"unreadable ({exc})")
            return None
        if hashlib.sha256(data).hexdigest() != hashes[kind]:
            _refuse(path, f"SHA-256 differs from {MANIFEST}; the file was changed")
            return None
        out[kind] = data
    return out


def _refuse(path: Path, reason: str) -> None:
    warnings.warn(f"ONNX text model {path}: {reason}; refusing it and exporting again",
                  RuntimeWarning, stacklevel=4)


def _export(model: Any, folder: Path, source_digest: str, int8: bool) -> dict[str, bytes]:
    """Export (and quantise) ``model`` into ``folder``; returns the files' bytes."""
    import onnxruntime
    import torch

    log.info("exporting text model to ONNX in %s", folder)
    files = {"fp32": _export_fp32(model)}
    if int8:
        files["int8"] = _quantize(files["fp32"])
    folder.mkdir(parents=True, exist_ok=True)
    for kind, data in files.items():
        _atomic_write(folder / _FILES[kind], data)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "source": source_digest,
                "opset": OPSET, "torch": torch.__version__,
                "onnxruntime": onnxruntime.__version__,
                "files": {kind: {"file": _FILES[kind],
                                 "sha256": hashlib.sha256(data).hexdigest()}
                          for kind, data in files.items()}}
    _atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
    return files


def _export_fp32(model: Any) -> bytes:
    """``torch.onnx.export`` of token features → unit sentence vectors, batch and sequence
    length dynamic."""
    import io

    import torch

    preprocess = getattr(model, "preprocess", None) or model.tokenize
    sample = preprocess(["a short text", "a somewhat longer text to pad the first one"])
    names = [k for k, v in sample.items() if isinstance(v, torch.Tensor)]

    class Graph(torch.nn.Module):
        """Positional token features → unit sentence vectors."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            vectors = self.model(dict(zip(names, inputs, strict=True)))["sentence_embedding"]
            return torch.nn.functional.normalize(vectors.float(), dim=1)

    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and exporter deprecation notes
            torch.onnx.export(Graph().eval(), tuple(sample[n] for n in names), buffer,
                              dynamo=False, input_names=names,
                              output_names=["sentence_embedding"],
                              dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                              opset_version=OPSET, do_constant_folding=True)
    except Exception as exc:  # the exporter raises many types; name what failed
        raise ConfigError(f"could not export the text model to ONNX: {exc}") from exc
    return buffer.getvalue()


def _quantize(fp32: bytes) -> bytes:
    """Dynamic int8 copy of a graph: per-channel weights for the MatMuls whose weight has no
    more rows (inputs) than columns (outputs)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load_from_string(fp32)
    shapes = {t.name: tuple(t.dims) for t in graph.graph.initializer}
    chosen = [n.name for n in graph.graph.node if n.op_type == "MatMul"
              and len(shapes.get(n.input[1], ())) == 2
              and shapes[n.input[1]][0] <= shapes[n.input[1]][1]]
    if not chosen:
        raise ConfigError("the ONNX text model has no MatMul with a weight to quantise")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{uuid.uuid4().hex}.onnx"
        root_logger = logging.getLogger()
        level = root_logger.level
        root_logger.setLevel(max(level, logging.ERROR))  # it warns via the root logger
        try:
            quantize_dynamic(graph, out, per_channel=True, weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul"], nodes_to_quantize=chosen)
        finally:
            root_logger.setLevel(level)
        return out.read_bytes()

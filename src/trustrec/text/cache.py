"""``EmbeddingCache``: text vectors on disk, keyed by (model id, SHA-256 of the text).

Layout: one folder per model id; each :meth:`EmbeddingCache.put` adds one *chunk*, a
``<name>.npy`` float32 array (written first) and a ``<name>.json`` index with the model id,
the SHA-256 and shape of the array and the text keys of its rows (written last: it commits
the chunk). Files are written to a temporary name and renamed, so readers never see half a
file and concurrent writers never clash; nothing is ever rewritten (append-only) and no
pickle is ever loaded. A chunk whose index cannot be read, or whose array does not match
its recorded hash or shape, is renamed ``*.corrupt`` with a warning and treated as missing,
so its texts are encoded again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trustrec._runtime import atomic_write as _atomic_write
from trustrec.errors import DataError
from trustrec.text.item_text import normalize_text

FORMAT_VERSION = 1


def text_key(text: str) -> str:
    """The cache key of a text: SHA-256 (hex) of its normalised UTF-8 form."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Chunk:
    """One committed ``put``: the index of ``<name>.npy``."""

    sha256: str
    shape: tuple[int, int]
    keys: tuple[str, ...]


class EmbeddingCache:
    """Vectors of texts under ``directory``; a model only ever sees its own vectors.

    ``get`` returns the cached vectors of the texts it knows and a mask of which those are;
    ``put`` stores the vectors of texts not stored yet. Texts are compared after
    :func:`~trustrec.text.item_text.normalize_text`.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._chunks: dict[Path, _Chunk] = {}  # committed index files never change
        self._arrays: dict[Path, np.ndarray] = {}  # arrays already verified
        self._bad: set[Path] = set()

    def get(self, model_id: str, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors, hit)``: ``hit[i]`` tells whether ``texts[i]`` is cached, ``vectors``
        holds the cached rows in order, shape ``(hit.sum(), dim)`` (``(0, 0)`` when the cache
        holds nothing for ``model_id``)."""
        keys = [text_key(t) for t in texts]
        folder = self._folder(model_id)
        while True:  # each failed round quarantines a chunk, so this ends
            chunks = self._index(folder, model_id)
            where: dict[str, tuple[Path, int]] = {}
            for path, chunk in chunks.items():
                for row, key in enumerate(chunk.keys):
                    where.setdefault(key, (path, row))
            found = [where.get(k) for k in keys]
            needed = {f[0] for f in found if f is not None}
            if all(self._array(path, chunks[path]) is not None for path in needed):
                break
        hit = np.array([f is not None for f in found], dtype=bool)
        dim = next(iter(chunks.values())).shape[1] if chunks else 0
        vectors = np.empty((int(hit.sum()), dim), dtype=np.float32)
        for out_row, (path, row) in enumerate(f for f in found if f is not None):
            vectors[out_row] = self._arrays[path][row]
        return vectors, hit

    def put(self, model_id: str, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Store the vectors of the texts not cached yet; returns how many were added."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise DataError(f"EmbeddingCache.put: vectors have shape {vectors.shape}, expected "
                            f"({len(texts)}, dim) for {len(texts)} texts")
        if not np.isfinite(vectors).all():
            raise DataError("EmbeddingCache.put: vectors contain NaN or infinity")
        folder = self._folder(model_id)
        chunks = self._index(folder, model_id)
        dims = {c.shape[1] for c in chunks.values()}
        if dims and dims != {vectors.shape[1]}:
            raise DataError(f"EmbeddingCache.put: {model_id!r} has {dims.pop()}-d vectors in "
                            f"{folder}, got {vectors.shape[1]}-d ones")
        known = {k for c in chunks.values() for k in c.keys}
        new: dict[str, int] = {}
        for i, key in enumerate(text_key(t) for t in texts):
            if key not in known:
                new.setdefault(key, i)
        if not new:
            return 0
        array = np.ascontiguousarray(vectors[list(new.values())])
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        name = hashlib.sha256(data + "".join(new).encode("ascii")).hexdigest()[:32]
        index = {"format": FORMAT_VERSION, "model_id": model_id, "sha256": digest,
                 "shape": list(array.shape), "keys": list(new)}
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / f"{name}.npy", data)
        _atomic_write(folder / f"{name}.json", json.dumps(index).encode("utf-8"))
        path = folder / f"{name}.json"
        self._chunks[path] = _Chunk(digest, (int(array.shape[0]), int(array.shape[1])),
                                    tuple(new))
        array.setflags(write=False)
        self._arrays[path] = array
        return len(new)

    # ------------------------------------------------------------------ internals
    def _folder(self, model_id: str) -> Path:
        return self.directory / hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:32]

    def _index(self, folder: Path, model_id: str) -> dict[Path, _Chunk]:
        """The readable committed chunks of ``folder``, in file-name order."""
        if not folder.is_dir():
            return {}
        chunks = {}
        for path in sorted(folder.glob("*.json")):
            if path in self._bad:
                continue
            if path not in self._chunks:
                chunk = self._parse(path, model_id)
                if chunk is None:
                    continue
                self._chunks[path] = chunk
            chunks[path] = self._chunks[path]
        return chunks

    def _parse(self, path: Path, model_id: str) -> _Chunk | None:
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            keys = tuple(index["keys"])
            shape = (int(index["shape"][0]), int(index["shape"][1]))
            ok = (index["format"] == FORMAT_VERSION and index["model_id"] == model_id
                  and shape[0] == len(keys) and all(isinstance(k, str) for k in keys))
            chunk = _Chunk(str(index["sha256"]), shape, keys)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            ok, chunk, reason = False, None, f"unreadable index ({exc})"
        else:
            reason = "index does not match its model id, format or shape"
        if not ok:
            self._quarantine(path, reason)
            return None
        return chunk

    def _array(self, path: Path, chunk: _Chunk) -> np.ndarray | None:
        """The verified array of ``chunk`` (None, with a warning, if it is corrupt)."""
        if path in self._arrays:
            return self._arrays[path]
        file = path.with_suffix(".npy")
        try:
            data = file.read_bytes()
            if hashlib.sha256(data).hexdigest() != chunk.sha256:
                raise ValueError("SHA-256 differs from the index")
            array = np.load(io.BytesIO(data), allow_pickle=False)
            if array.dtype != np.float32 or array.shape != chunk.shape:
                raise ValueError(f"array is {array.dtype} {array.shape}, index says "
                                 f"float32 {chunk.shape}")
        except (OSError, ValueError) as exc:
            self._quarantine(path, f"{file.name}: {exc}")
            return None
        array.setflags(write=False)
        self._arrays[path] = array
        return array

    def _quarantine(self, path: Path, reason: str) -> None:
        """Warn, and rename the chunk's index aside so that it is no longer read."""
        warnings.warn(f"embedding cache {path}: {reason}; ignoring it (its texts will be "
                      "encoded again)", RuntimeWarning, stacklevel=4)
        self._bad.add(path)
        try:
            path.replace(path.with_name(path.name + ".corrupt"))
        except OSError:
            pass  # read-only or already moved by another process: ignoring it is enough


"""Model artifacts: a directory with ``manifest.json`` and one ``.npy`` file per array.

No pickle anywhere: arrays are loaded with ``allow_pickle=False`` after their SHA-256 is
checked against the manifest, so a tampered or truncated file is refused before use.

An artifact is handled as its files' bytes (:func:`artifact_files` makes them, a
``Mapping[str, bytes]`` such as :class:`DirectoryFiles` reads them), so the same code saves
and loads a plain directory and an encrypted one (:mod:`trustrec.privacy.encryption`)
without the plaintext of an encrypted model ever touching the disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trustrec.errors import ArtifactError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def artifact_files(manifest: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Iterator[tuple[str, bytes]]:
    """The artifact's files as ``(name, bytes)``: one ``.npy`` per array, then the manifest
    (with each array's hash, shape and dtype) last, built one file at a time."""
    entries: dict[str, Any] = {}
    for name, arr in arrays.items():
        if not _NAME.match(name):
            raise ArtifactError(f"invalid array name {name!r}")
        arr = np.asarray(arr)
        if arr.dtype.kind == "O":
            raise ArtifactError(f"array {name!r} has dtype object; artifacts never hold pickles")
        buffer = io.BytesIO()
        np.save(buffer, arr, allow_pickle=False)
        data = buffer.getvalue()
        file = f"{name}.npy"
        entries[name] = {"file": file, "sha256": hashlib.sha256(data).hexdigest(),
                         "shape": list(arr.shape), "dtype": arr.dtype.str}
        yield file, data
    full = {"format_version": FORMAT_VERSION, **manifest, "arrays": entries}
    yield MANIFEST, json.dumps(full, indent=2, sort_keys=True).encode()


def write_files(path: str | os.PathLike[str], files: Iterable[tuple[str, bytes]]) -> Path:
    """Write ``files`` into directory ``path`` in order, each whole (temporary file, then
    rename), so that the last one (the manifest) appears only after all the others."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        tmp = root / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(root / name)
    return root


class DirectoryFiles(Mapping[str, bytes]):
    """The files of directory ``root`` by name, read when asked for."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __getitem__(self, name: str) -> bytes:
        file = self.root / name
        if not _NAME.match(name) or not file.is_file():
            raise KeyError(name)
        return file.read_bytes()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(_NAME.match(name)) and \
            (self.root / name).is_file()

    def __iter__(self) -> Iterator[str]:
        return (p.name for p in sorted(self.root.iterdir()) if p.is_file())

    def __len__(self) -> int:
        return sum(1 for _ in self)


def read_manifest(files: Mapping[str, bytes], source: str) -> dict[str, Any]:
    """Read and sanity-check the manifest among ``files`` (``source`` names them in errors)."""
    if MANIFEST not in files:
        raise ArtifactError(f"{source}: not a trustrec model directory (no {MANIFEST})")
    where = f"{source}/{MANIFEST}"
    try:
        manifest = json.loads(files[MANIFEST])
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{where}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{where}: expected a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{where}: format_version {version!r} is not supported "
                            f"(expected {FORMAT_VERSION})")
    if not isinstance(manifest.get("arrays"), dict):
        raise ArtifactError(f"{where}: field 'arrays' missing or not an object")
    return manifest


def read_arrays(files: Mapping[str, bytes], manifest: dict[str, Any],
                source: str) -> dict[str, np.ndarray]:
    """Load every array of the manifest from ``files``, verifying hash, dtype and shape."""
    out: dict[str, np.ndarray] = {}
    for name, entry in manifest["arrays"].items():
        file = str(entry.get("file", ""))
        where = f"{source}/{file}"
        if not _NAME.match(file):
            raise ArtifactError(f"{source}/{MANIFEST}: invalid file name for array {name!r}")
        if file not in files:
            raise ArtifactError(f"{where}: array file missing")
        data = files[file]
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise ArtifactError(f"{where}: SHA-256 does not match the manifest "
                                "(file tampered with or corrupted); refusing to load")
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise ArtifactError(f"{where}: unreadable array ({exc})") from None
        if list(arr.shape) != entry.get("shape") or arr.dtype.str != entry.get("dtype"):
            raise ArtifactError(f"{where}: shape/dtype {arr.shape}/{arr.dtype.str} differ from "
                                f"the manifest {entry.get('shape')}/{entry.get('dtype')}")
        out[name] = arr
    return out

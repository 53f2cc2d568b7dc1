"""Model artifacts: a directory with ``manifest.json`` and one ``.npy`` file per array.

No pickle anywhere: arrays are loaded with ``allow_pickle=False`` after their SHA-256 is
checked against the manifest, so a tampered or truncated file is refused before use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from trustrec.errors import ArtifactError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_artifact(path: str | os.PathLike[str], manifest: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and ``manifest`` (plus hashes and shapes) into directory ``path``."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    entries: dict[str, Any] = {}
    for name, arr in arrays.items():
        if not _NAME.match(name):
            raise ArtifactError(f"invalid array name {name!r}")
        arr = np.asarray(arr)
        if arr.dtype.kind == "O":
            raise ArtifactError(f"array {name!r} has dtype object; artifacts never hold pickles")
        file = root / f"{name}.npy"
        np.save(file, arr, allow_pickle=False)
        entries[name] = {"file": file.name, "sha256": _sha256(file),
                         "shape": list(arr.shape), "dtype": arr.dtype.str}
    full = {"format_version": FORMAT_VERSION, **manifest, "arrays": entries}
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(full, indent=2, sort_keys=True))
    tmp.replace(root / MANIFEST)  # the manifest appears last: a half-written dir has none
    return root


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and sanity-check the manifest of the artifact at ``path``."""
    root = Path(path)
    file = root / MANIFEST
    if not file.is_file():
        raise ArtifactError(f"{root}: not a trustrec model directory (no {MANIFEST})")
    try:
        manifest = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{file}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{file}: format_version {version!r} is not supported "
                            f"(expected {FORMAT_VERSION})")
    if not isinstance(manifest.get("arrays"), dict):
        raise ArtifactError(f"{file}: field 'arrays' missing or not an object")
    return manifest


def read_arrays(path: str | os.PathLike[str], manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """Load every array of the manifest, verifying hash, dtype and shape."""
    root = Path(path)
    out: dict[str, np.ndarray] = {}
    for name, entry in manifest["arrays"].items():
        file = root / str(entry.get("file", ""))
        if not _NAME.match(file.name) or file.parent != root:
            raise ArtifactError(f"{root / MANIFEST}: invalid file name for array {name!r}")
        if not file.is_file():
            raise ArtifactError(f"{file}: array file missing")
        if _sha256(file) != entry.get("sha256"):
            raise ArtifactError(f"{file}: SHA-256 does not match the manifest "
                                "(file tampered with or corrupted); refusing to load")
        try:
            arr = np.load(file, allow_pickle=False)
        except ValueError as exc:
            raise ArtifactError(f"{file}: unreadable array ({exc})") from None
        if list(arr.shape) != entry.get("shape") or arr.dtype.str != entry.get("dtype"):
            raise ArtifactError(f"{file}: shape/dtype {arr.shape}/{arr.dtype.str} differ from "
                                f"the manifest {entry.get('shape')}/{entry.get('dtype')}")
        out[name] = arr
    return out

"""Model artifacts: a directory with ``manifest.json`` and one ``.npy`` file per array.

No pickle anywhere: arrays are loaded with ``allow_pickle=False`` after their SHA-256 is
checked against the manifest, so a tampered or truncated file is refused before use.

Saving is atomic and crash-safe. Every save writes a new *generation*: array files under
names no earlier save used (``<array>.<tag>.npy``), each fsynced, then a new manifest
naming them is fsynced and renamed over ``manifest.json`` (the commit point), and the
directory is fsynced. Only then are the previous generation's files removed. A process
killed at any moment leaves the old manifest with its complete files, or the new one with
its complete files, never a mix; the leftovers of an interrupted save are removed by the
next one. Writers of one directory take turns (an exclusive ``flock`` on it); a reader
whose manifest was replaced while it read the arrays reads again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from trustrec.errors import ArtifactError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: files a save writes: arrays of a generation and its manifest before the rename
_GENERATION_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.[0-9a-f]{12}\.npy$")
_MANIFEST_TMP = re.compile(r"^\." + re.escape(MANIFEST) + r"\.[0-9a-f]{12}\.tmp$")
_READ_ATTEMPTS = 5


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync_dir(root: Path) -> None:
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    """Exclusive ``flock`` on directory ``root`` for one save (released if the process dies)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _committed_files(root: Path) -> tuple[set[str], int]:
    """Array files the current manifest names, and its generation (none: empty, 0)."""
    try:
        manifest = read_manifest(root)
    except ArtifactError:
        return set(), 0
    files = {str(e.get("file", "")) for e in manifest["arrays"].values() if isinstance(e, dict)}
    return {f for f in files if _NAME.match(f)}, int(manifest.get("generation", 0))


def write_artifact(path: str | os.PathLike[str], manifest: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and ``manifest`` (plus hashes, shapes and the generation number) into
    directory ``path`` as its next generation, atomically (see the module docstring)."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        if not _NAME.match(name):
            raise ArtifactError(f"invalid array name {name!r}")
        if np.asarray(arr).dtype.kind == "O":
            raise ArtifactError(f"array {name!r} has dtype object; artifacts never hold pickles")
    with _writer_lock(root):
        previous, generation = _committed_files(root)
        tag = secrets.token_hex(6)
        entries: dict[str, Any] = {}
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            file = root / f"{name}.{tag}.npy"
            with file.open("xb") as fh:
                np.save(fh, arr, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            entries[name] = {"file": file.name, "sha256": _sha256(file),
                             "shape": list(arr.shape), "dtype": arr.dtype.str}
        full = {"format_version": FORMAT_VERSION, **manifest, "generation": generation + 1,
                "arrays": entries}
        tmp = root / f".{MANIFEST}.{tag}.tmp"
        with tmp.open("x") as fh:
            fh.write(json.dumps(full, indent=2, sort_keys=True))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / MANIFEST)  # the commit point
        _fsync_dir(root)
        keep = {e["file"] for e in entries.values()}
        for file in root.iterdir():  # the previous generation, and leftovers of killed saves
            if file.name not in keep and (file.name in previous
                                          or _GENERATION_FILE.match(file.name)
                                          or _MANIFEST_TMP.match(file.name)):
                file.unlink(missing_ok=True)
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
    """Load every array of the manifest, verifying hash, dtype and shape.

    Each file is opened once: the bytes hashed are the bytes parsed.
    """
    root = Path(path)
    out: dict[str, np.ndarray] = {}
    for name, entry in manifest["arrays"].items():
        file = root / str(entry.get("file", ""))
        if not _NAME.match(file.name) or file.parent != root:
            raise ArtifactError(f"{root / MANIFEST}: invalid file name for array {name!r}")
        try:
            fh = file.open("rb")
        except FileNotFoundError:
            raise ArtifactError(f"{file}: array file missing") from None
        with fh:
            if hashlib.file_digest(fh, "sha256").hexdigest() != entry.get("sha256"):
                raise ArtifactError(f"{file}: SHA-256 does not match the manifest "
                                    "(file tampered with or corrupted); refusing to load")
            fh.seek(0)
            try:
                arr = np.load(fh, allow_pickle=False)
            except ValueError as exc:
                raise ArtifactError(f"{file}: unreadable array ({exc})") from None
        if list(arr.shape) != entry.get("shape") or arr.dtype.str != entry.get("dtype"):
            raise ArtifactError(f"{file}: shape/dtype {arr.shape}/{arr.dtype.str} differ from "
                                f"the manifest {entry.get('shape')}/{entry.get('dtype')}")
        out[name] = arr
    return out


def manifest_stamp(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """Identity of the committed manifest at ``path`` (inode, mtime ns); None when absent.

    Every save renames a new file into place, so the stamp changes with each generation.
    """
    try:  # string paths: this runs on every request of the service
        st = os.stat(os.path.join(os.fspath(path), MANIFEST))
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def read_artifact(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and verified arrays of one generation, read again when a save replaced
    the manifest during the read (its files may be gone by then)."""
    for _ in range(_READ_ATTEMPTS - 1):
        stamp = manifest_stamp(path)
        manifest = read_manifest(path)
        try:
            return manifest, read_arrays(path, manifest)
        except ArtifactError:
            if manifest_stamp(path) == stamp:
                raise
    manifest = read_manifest(path)
    return manifest, read_arrays(path, manifest)

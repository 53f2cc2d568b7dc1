"""Model artifacts: a directory with ``manifest.json`` and one ``.npy`` file per array.

No pickle anywhere: arrays are loaded with ``allow_pickle=False`` after their SHA-256 is
checked against the manifest, so a tampered or truncated file is refused before use.

An artifact is handled as its files' bytes (:func:`artifact_files` makes them, a
``Mapping[str, bytes]`` such as :class:`DirectoryFiles` reads them), so the same code saves
and loads a plain directory and an encrypted one (:mod:`trustrec.privacy.encryption`)
without the plaintext of an encrypted model ever touching the disk.

Saving a plain directory (:func:`write_artifact`) is atomic and crash-safe. Every save
writes a new *generation*: array files under names no earlier save used
(``<array>.<tag>.npy``), each fsynced, then a new manifest naming them is fsynced and
renamed over ``manifest.json`` (the commit point), and the directory is fsynced; files
derived from the manifest (its signature) are written the same way just before the commit.
Only then are the previous generation's files removed. A process killed at any moment
leaves the old manifest with its complete files, or the new one with its complete files,
never a mix; the leftovers of an interrupted save are removed by the next one. Writers of
one directory take turns (an exclusive ``flock`` on it); a reader whose manifest was
replaced while it read the arrays reads again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trustrec.errors import ArtifactError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: files a save writes: arrays of a generation and its manifest before the rename
_GENERATION_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.[0-9a-f]{12}\.npy$")
_SAVE_TMP = re.compile(r"^\.[A-Za-z0-9_.-]+\.[0-9a-f]{12}\.tmp$")
_READ_ATTEMPTS = 5


def artifact_files(manifest: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Iterator[tuple[str, bytes]]:
    """The artifact's files as ``(name, bytes)``: one ``.npy`` per array, then the manifest
    (with each array's hash, shape and dtype) last, built one file at a time."""
    entries: dict[str, Any] = {}
    for name, arr in arrays.items():
        if not _NAME.match(name):
            raise ArtifactError(f"invalid array name {name!r}")
        if np.asarray(arr).dtype.kind == "O":
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


def _fsync_dir(root: Path) -> None:
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(file: Path, data: bytes) -> None:
    """Create ``file`` (it must not exist) holding ``data``, flushed to disk."""
    with file.open("xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


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
        manifest = read_manifest(DirectoryFiles(root), str(root))
    except ArtifactError:
        return set(), 0
    files = {str(e.get("file", "")) for e in manifest["arrays"].values() if isinstance(e, dict)}
    return {f for f in files if _NAME.match(f)}, int(manifest.get("generation", 0))


#: files derived from the committed manifest's bytes (name → contents), e.g. its signature
Companions = Callable[[bytes], Mapping[str, bytes]]


def write_artifact(path: str | os.PathLike[str], files: Iterable[tuple[str, bytes]],
                   companions: Companions | None = None) -> Path:
    """Write an artifact's ``files`` (:func:`artifact_files`: arrays, manifest last) into
    directory ``path`` as its next generation, atomically (see the module docstring).

    ``companions`` makes files from the new manifest's bytes (a signature); they replace
    their namesakes just before the manifest is committed.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    with _writer_lock(root):
        previous, generation = _committed_files(root)
        tag = secrets.token_hex(6)
        renamed: dict[str, str] = {}
        manifest: dict[str, Any] | None = None
        for name, data in files:
            if name == MANIFEST:
                manifest = json.loads(data)
                break
            if not _NAME.match(name) or not name.endswith(".npy"):
                raise ArtifactError(f"{root}: invalid artifact file name {name!r}")
            renamed[name] = f"{name[:-len('.npy')]}.{tag}.npy"
            _write_synced(root / renamed[name], data)
        if manifest is None:
            raise ArtifactError(f"{root}: the artifact's files end without {MANIFEST}")
        for entry in manifest["arrays"].values():
            entry["file"] = renamed[entry["file"]]
        manifest["generation"] = generation + 1
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        tmp = root / f".{MANIFEST}.{tag}.tmp"
        _write_synced(tmp, data)
        for name, extra in (companions(data) if companions else {}).items():
            extra_tmp = root / f".{name}.{tag}.tmp"
            _write_synced(extra_tmp, extra)
            os.replace(extra_tmp, root / name)
        os.replace(tmp, root / MANIFEST)  # the commit point
        _fsync_dir(root)
        keep = set(renamed.values())
        for file in root.iterdir():  # the previous generation, and leftovers of killed saves
            if file.name not in keep and (file.name in previous
                                          or _GENERATION_FILE.match(file.name)
                                          or _SAVE_TMP.match(file.name)):
                file.unlink(missing_ok=True)
    return root


class DirectoryFiles(Mapping[str, bytes]):
    """The files of directory ``root`` by name, read when asked for."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __getitem__(self, name: str) -> bytes:
        if not _NAME.match(name):
            raise KeyError(name)
        try:  # one read: the bytes hashed are the bytes parsed
            return (self.root / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(name) from None

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
        try:
            data = files[file]
        except KeyError:
            raise ArtifactError(f"{where}: array file missing") from None
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


def manifest_stamp(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """Identity of the committed manifest at ``path`` (inode, mtime ns); None when absent.

    Every save renames a new file into place, so the stamp changes with each generation.
    """
    try:  # string paths: this runs on every request of the service
        st = os.stat(os.path.join(os.fspath(path), MANIFEST))
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _stamp(files: Mapping[str, bytes]) -> tuple[int, int] | None:
    return manifest_stamp(files.root) if isinstance(files, DirectoryFiles) else None


def read_artifact(files: Mapping[str, bytes],
                  source: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and verified arrays of one generation among ``files``; a directory is
    read again when a save replaced its manifest during the read (its files may be gone)."""
    for _ in range(_READ_ATTEMPTS - 1):
        stamp = _stamp(files)
        manifest = read_manifest(files, source)
        try:
            return manifest, read_arrays(files, manifest, source)
        except ArtifactError:
            if stamp is None or _stamp(files) == stamp:
                raise
    manifest = read_manifest(files, source)
    return manifest, read_arrays(files, manifest, source)

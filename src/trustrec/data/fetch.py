"""Download a MovieLens archive from GroupLens, verify its pinned SHA-256, extract it safely.

The hashes are pinned here and cannot be skipped: a download that does not match is
deleted and refused. GroupLens itself publishes MD5 sums only; the SHA-256 pins below are
those recorded by TensorFlow Datasets (``url_checksums/movielens.txt``) for the same
URLs, together with the archive sizes, which match GroupLens' listing.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from trustrec.errors import ConfigError, DataError

log = logging.getLogger(__name__)

MARKER = ".trustrec-sha256"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """One downloadable archive: where it is, what it must hash to, what folder it holds."""

    url: str
    sha256: str
    size: int
    folder: str


ARCHIVES: dict[str, Archive] = {
    "movielens-100k": Archive(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        size=4924029, folder="ml-100k"),
    "movielens-1m": Archive(
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        size=5917549, folder="ml-1m"),
    "movielens-latest-small": Archive(
        url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        size=978202, folder="ml-latest-small"),
}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_movielens(
    name: Literal["movielens-100k", "movielens-1m", "movielens-latest-small"],
    dest: str | Path,
) -> Path:
    """Download, verify and extract a MovieLens archive into ``dest``; returns its folder.

    Idempotent: a folder extracted earlier from a verified archive is returned as is, and
    a verified ``.zip`` already in ``dest`` is not downloaded again. A folder of that name
    that trustrec did not extract is left alone (error), never overwritten.
    """
    if name not in ARCHIVES:
        raise ConfigError(f"unknown data set {name!r}; expected one of {', '.join(ARCHIVES)}")
    archive = ARCHIVES[name]
    dest = Path(dest)
    target = dest / archive.folder
    marker = target / MARKER
    if marker.is_file() and marker.read_text().strip() == archive.sha256:
        log.info("%s: already extracted and verified", target)
        return target
    if target.exists():
        raise DataError(f"{target}: exists but was not extracted by trustrec from a verified "
                        "archive; remove it, or load it directly")
    dest.mkdir(parents=True, exist_ok=True)
    zip_path = dest / f"{archive.folder}.zip"
    if not (zip_path.is_file() and sha256_file(zip_path) == archive.sha256):
        _download(archive, zip_path)
    _extract(zip_path, dest, archive.folder)
    marker.write_text(archive.sha256 + "\n")
    return target


def _download(archive: Archive, zip_path: Path) -> None:
    """Stream the archive to a ``.part`` file, hashing as it goes; keep it only if it
    matches the pinned SHA-256."""
    part = zip_path.with_name(zip_path.name + ".part")
    digest = hashlib.sha256()
    size = 0
    log.info("downloading %s", archive.url)
    try:
        with urllib.request.urlopen(archive.url, timeout=60) as response, \
                part.open("wb") as out:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                size += out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"could not download {archive.url}: {exc}") from exc
    if digest.hexdigest() != archive.sha256:
        part.unlink(missing_ok=True)
        raise DataError(f"{archive.url}: SHA-256 mismatch: expected {archive.sha256} "
                        f"({archive.size:,} bytes), got {digest.hexdigest()} ({size:,} bytes); "
                        "the download was deleted")
    part.replace(zip_path)


def _extract(zip_path: Path, dest: Path, folder: str) -> None:
    """Extract into a temporary folder beside ``dest/folder``, refusing any member that is
    absolute, climbs out with ``..``, is a link, or lies outside ``folder/``; then rename."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                _check_member(info, zip_path, folder)
            scratch = Path(tempfile.mkdtemp(prefix=f".{folder}-", dir=dest))
            try:
                zf.extractall(scratch)
                if not (scratch / folder).is_dir():
                    raise DataError(f"{zip_path}: the archive holds no {folder!r} folder")
                (scratch / folder).replace(dest / folder)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path}: not a valid zip archive ({exc})") from exc


def _check_member(info: zipfile.ZipInfo, zip_path: Path, folder: str) -> None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    mode = info.external_attr >> 16
    if (name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts
            or stat.S_ISLNK(mode)):
        raise DataError(f"{zip_path}: unsafe archive member {name!r} (absolute path, '..' or "
                        "link); refusing to extract")
    if not parts or parts[0] != folder:
        raise DataError(f"{zip_path}: member {name!r} is outside the expected folder "
                        f"{folder!r}/")

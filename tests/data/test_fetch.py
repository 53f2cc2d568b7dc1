"""fetch_movielens without a network: a zip built here, served through a file:// URL."""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from trustrec.data import fetch
from trustrec.errors import ConfigError, DataError

NAME = "movielens-100k"


def build_zip(path: Path, members: dict[str, str], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def serve(monkeypatch, zip_path: Path, sha256: str | None = None) -> fetch.Archive:
    """Point the pinned table at a local archive (the pin stays mandatory)."""
    digest = sha256 or hashlib.sha256(zip_path.read_bytes()).hexdigest()
    archive = fetch.Archive(url=zip_path.as_uri(), sha256=digest,
                            size=zip_path.stat().st_size, folder="ml-100k")
    monkeypatch.setitem(fetch.ARCHIVES, NAME, archive)
    return archive


@pytest.fixture
def good_zip(tmp_path) -> Path:
    return build_zip(tmp_path / "served.zip", {"ml-100k/u.data": "1\t2\t3\t4\n",
                                               "ml-100k/README": "hello"})


def test_download_verify_extract(tmp_path, monkeypatch, good_zip):
    serve(monkeypatch, good_zip)
    dest = tmp_path / "data"
    path = fetch.fetch_movielens(NAME, dest)
    assert path == dest / "ml-100k"
    assert (path / "u.data").read_text() == "1\t2\t3\t4\n"
    assert (dest / "ml-100k.zip").is_file()
    assert sorted(p.name for p in dest.iterdir()) == ["ml-100k", "ml-100k.zip"]


def test_idempotent_without_network(tmp_path, monkeypatch, good_zip):
    serve(monkeypatch, good_zip)
    dest = tmp_path / "data"
    fetch.fetch_movielens(NAME, dest)

    def no_network(*_args, **_kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(fetch.urllib.request, "urlopen", no_network)
    assert fetch.fetch_movielens(NAME, dest) == dest / "ml-100k"
    # the folder is gone but the verified zip is there: extract again, still no download
    shutil.rmtree(dest / "ml-100k")
    assert (fetch.fetch_movielens(NAME, dest) / "README").read_text() == "hello"


def test_hash_mismatch_is_refused_and_deleted(tmp_path, monkeypatch, good_zip):
    serve(monkeypatch, good_zip, sha256="0" * 64)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"SHA-256 mismatch: expected 0{64}"):
        fetch.fetch_movielens(NAME, dest)
    assert list(dest.iterdir()) == []


def test_tampered_zip_on_disk_is_downloaded_again(tmp_path, monkeypatch, good_zip):
    serve(monkeypatch, good_zip)
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "ml-100k.zip").write_bytes(b"tampered")
    path = fetch.fetch_movielens(NAME, dest)
    assert (path / "u.data").is_file()


def test_empty_archive_is_refused(tmp_path, monkeypatch):
    serve(monkeypatch, build_zip(tmp_path / "empty.zip", {}))
    with pytest.raises(DataError, match="holds no 'ml-100k' folder"):
        fetch.fetch_movielens(NAME, tmp_path / "data")


@pytest.mark.parametrize(("members", "links"), [
    ({"ml-100k/../evil.txt": "x"}, ()),
    ({"/abs/evil.txt": "x"}, ()),
    ({"other/u.data": "x"}, ()),
    ({"ml-100k/u.data": "x"}, ("ml-100k/link",)),
])
def test_unsafe_archives_are_refused(tmp_path, monkeypatch, members, links):
    serve(monkeypatch, build_zip(tmp_path / "bad.zip", members, links))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"unsafe archive member|outside the expected folder"):
        fetch.fetch_movielens(NAME, dest)
    assert not (dest / "ml-100k").exists() and not (tmp_path / "evil.txt").exists()
    assert [p.name for p in dest.iterdir()] == ["ml-100k.zip"]


def test_foreign_folder_is_not_overwritten(tmp_path, monkeypatch, good_zip):
    serve(monkeypatch, good_zip)
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "mine.txt").write_text("keep")
    with pytest.raises(DataError, match="not extracted by trustrec"):
        fetch.fetch_movielens(NAME, tmp_path)
    assert (tmp_path / "ml-100k" / "mine.txt").read_text() == "keep"


def test_download_failure_and_unknown_name(tmp_path, monkeypatch):
    monkeypatch.setitem(fetch.ARCHIVES, NAME, fetch.Archive(
        url=(tmp_path / "missing.zip").as_uri(), sha256="1" * 64, size=1, folder="ml-100k"))
    with pytest.raises(DataError, match="could not download"):
        fetch.fetch_movielens(NAME, tmp_path / "data")
    with pytest.raises(ConfigError, match="unknown data set 'movielens-2k'"):
        fetch.fetch_movielens("movielens-2k", tmp_path)  # type: ignore[arg-type]


def test_pins_cover_the_three_archives():
    assert set(fetch.ARCHIVES) == {"movielens-100k", "movielens-1m", "movielens-latest-small"}
    for archive in fetch.ARCHIVES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", archive.sha256)
        assert archive.url == ("https://files.grouplens.org/datasets/movielens/"
                               f"{archive.folder}.zip")

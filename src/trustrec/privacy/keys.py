"""Secret keys in files: create, read and keep away from the data they protect.

A key file holds at least 32 random bytes, written as hex text by :func:`generate_key`
(``openssl rand -hex 32`` gives the same form; raw binary files of ≥ 32 random bytes are
accepted too). :func:`read_key` refuses what cannot be a secret key:

* a file that other users may read or write (any group or other permission bit, as ``ssh``
  refuses private keys): ``chmod 600`` it;
* text that is not hex — a password or passphrase has far less than 256 bits of entropy and
  HKDF cannot add any;
* key material whose bytes repeat far more than random bytes do (fewer distinct byte values
  than half of what ``n`` random bytes have on average: ``00…00``, ``0123…`` patterns). This
  is a sanity check against obviously bad keys, not a proof of entropy.

One file can serve several purposes: :func:`derive_key` turns it into independent sub-keys
(HKDF-SHA256 with a purpose label), so the pseudonymisation key and the encryption key never
coincide. Keys are never logged, never written into manifests, and
:func:`check_key_location` refuses a key file that is one of the files it protects or lies
inside an input or output folder.
"""

from __future__ import annotations

import os
import stat
import string
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trustrec.errors import ConfigError

#: Minimum key material, in bytes (256 bits).
MIN_KEY_BYTES = 32


def generate_key(path: str | os.PathLike[str]) -> Path:
    """Write 32 fresh random bytes as hex into a new file ``path`` (mode 0600)."""
    file = Path(path)
    if file.exists():
        raise ConfigError(f"{file}: key file exists already; refusing to overwrite a key")
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(MIN_KEY_BYTES).hex() + "\n")
    return file


def _check_private(file: Path) -> None:
    """Refuse a key file with any group or other permission bit (POSIX only)."""
    if os.name != "posix":  # Windows has ACLs, not mode bits: nothing reliable to check here
        return
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{file}: key file is accessible to other users (mode "
                          f"{mode:04o}); refusing it — run `chmod 600 {file}` and keep it "
                          "private")


def _check_random(file: Path, key: bytes) -> None:
    """Refuse key material whose bytes repeat far more than random bytes do."""
    n = len(key)
    expected = 256.0 * (1.0 - (255.0 / 256.0) ** n)  # distinct values among n random bytes
    distinct = len(set(key))
    if distinct < expected / 2:
        raise ConfigError(f"{file}: key material is not random ({distinct} distinct byte "
                          f"values in {n} bytes, random bytes have about {expected:.0f}); "
                          "create a key with `trustrec data keygen FILE`")


def read_key(path: str | os.PathLike[str]) -> bytes:
    """The key material of file ``path``: at least 32 random bytes, as hex text (the form
    :func:`generate_key` writes) or raw binary, in a file only its owner can access."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: key file not found (create one with "
                          "`trustrec data keygen FILE`)")
    _check_private(file)
    raw = file.read_bytes()
    text = raw.strip()
    if text and all(chr(c) in string.hexdigits for c in text):
        if len(text) % 2:
            raise ConfigError(f"{file}: hex key has an odd number of digits ({len(text)})")
        key = bytes.fromhex(text.decode("ascii"))
    else:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            key = raw
        else:
            raise ConfigError(f"{file}: key file holds text that is not hex — a password or "
                              "passphrase is not a key; create one with `trustrec data keygen "
                              f"FILE` (or write {MIN_KEY_BYTES} random bytes as hex)")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{file}: key has {len(key)} bytes, expected at least "
                          f"{MIN_KEY_BYTES} (64 hex digits)")
    _check_random(file, key)
    return key


def derive_key(key: bytes, purpose: str) -> bytes:
    """A 32-byte sub-key of ``key`` for ``purpose`` (HKDF-SHA256, purpose as info).

    No salt, on purpose: RFC 5869 (§3.1) makes the salt optional and needed only when the
    input keying material is not uniformly random; :func:`read_key` admits only ≥ 256 bits
    of random material, for which HKDF-Extract with the default (all-zero) salt is already a
    sound extractor. The sub-keys must also be reproducible from the key file alone (the
    same person must get the same pseudonym in every run), so a random salt would have to be
    stored beside the data as a second secret-less input and would add nothing; domain
    separation between purposes comes from ``info``.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"key has {len(key)} bytes, expected at least {MIN_KEY_BYTES}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"trustrec/{purpose}".encode())
    return hkdf.derive(key)


def check_key_location(key_path: str | os.PathLike[str], *,
                       inputs: Iterable[str | os.PathLike[str]] = (),
                       outputs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Refuse a key file that would travel with what it protects.

    Refused: the key is one of the ``inputs`` or ``outputs`` files, or lies inside an input
    or output *folder* (a data set or model directory is copied and shared as a whole;
    an output folder counts whether it exists yet or not). A key in a parent folder shared
    with an input file (``~/keys/k`` beside ``~/ratings.csv``) is fine.
    """
    key = Path(key_path).resolve()
    for item, is_output in [*((p, False) for p in inputs), *((p, True) for p in outputs)]:
        path = Path(item).resolve()
        folder = path.is_dir() or (is_output and not path.exists() and not path.suffix)
        if key == path or (folder and key.is_relative_to(path)):
            where = f"inside {path}" if key != path else f"the same file as {path}"
            raise ConfigError(f"{key_path}: the key file is {where}, which it protects; "
                              "keep keys in a separate location")

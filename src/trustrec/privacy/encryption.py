"""Encryption at rest: AES-256-GCM for data files and saved model directories.

Every encrypted file is ``MAGIC | header length (2 bytes) | header | 12-byte random nonce |
ciphertext | 16-byte tag``. The header is the JSON ``{"name": …, "role": …}`` of the file it
was written as: its *role* (what the bytes are: ``interactions``, ``users``, ``items``, … for
data files, ``model`` for the files of a model directory) and its *name* (the encrypted
file's own name for data files, the artifact file's name inside a model). Magic and header
are the associated data of the AES-GCM tag, and decryption is told which role and name it
expects, so a flipped bit, a truncated file, a wrong key, or a file renamed or swapped with
another one (``users.enc`` offered as ``ratings.enc``, an item table offered as the
interactions) is refused with an :class:`ArtifactError` before anything is parsed. Files
written by the first format (``TRRENC1``, one label shared by every data file) are refused:
they cannot be told apart.

The AES key is an HKDF sub-key of the key file (:mod:`trustrec.privacy.keys`); no key or
key-derived value is ever logged or written to disk.

An encrypted model directory holds one ``<file>.enc`` per file of the plain artifact
(manifest included, so even the model's configuration and IDs stay private) and a plain
``encrypted.json`` that says how it was encrypted — never with what key. Saving encrypts the
artifact's files in memory and loading decrypts them in memory: the plaintext of an
encrypted model is never written anywhere, not even to a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trustrec.errors import ArtifactError, ConfigError
from trustrec.models.artifact import MANIFEST, write_files
from trustrec.models.base import Recommender
from trustrec.privacy.keys import derive_key

MAGIC = b"TRRENC2\x00"
_OLD_MAGIC = b"TRRENC1\x00"
NONCE_BYTES = 12
TAG_BYTES = 16
#: The plain descriptor of an encrypted model directory.
ENCRYPTED_MODEL = "encrypted.json"
#: The role of every file of an encrypted model directory (reserved: not a data-file role).
MODEL_ROLE = "model"
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_CIPHER = "AES-256-GCM"


def _aead(key: bytes) -> AESGCM:
    return AESGCM(derive_key(key, "aes-256-gcm"))


def _header(role: str, name: str) -> bytes:
    """``MAGIC``, length and JSON header binding a ciphertext to ``role`` and ``name``."""
    body = json.dumps({"name": name, "role": role}, sort_keys=True,
                      separators=(",", ":")).encode()
    return MAGIC + struct.pack(">H", len(body)) + body


def encrypt_bytes(data: bytes, key: bytes, role: str, name: str) -> bytes:
    """``data`` encrypted and authenticated under ``key``, bound to ``role`` and ``name``."""
    head = _header(role, name)
    nonce = os.urandom(NONCE_BYTES)
    return head + nonce + _aead(key).encrypt(nonce, data, head)


def decrypt_bytes(blob: bytes, key: bytes, role: str, name: str,
                  source: str = "input") -> bytes:
    """The plaintext of ``blob``, which must have been encrypted as ``role`` and ``name``;
    ``ArtifactError`` naming ``source`` if it was not, or if it does not verify."""
    if blob.startswith(_OLD_MAGIC):
        raise ArtifactError(f"{source}: written by the first trustrec encryption format "
                            "(TRRENC1), which bound every data file to the same label so that "
                            "swapped files went undetected; refusing it — encrypt the "
                            "plaintext again")
    start = len(MAGIC) + 2
    if not blob.startswith(MAGIC) or len(blob) < start:
        raise ArtifactError(f"{source}: not a trustrec-encrypted file (expected the "
                            f"{MAGIC[:-1].decode()} header)")
    (size,) = struct.unpack(">H", blob[len(MAGIC):start])
    body_end = start + size
    if len(blob) < body_end + NONCE_BYTES + TAG_BYTES:
        raise ArtifactError(f"{source}: truncated trustrec-encrypted file")
    try:
        written = json.loads(blob[start:body_end])
        was = (str(written["role"]), str(written["name"]))
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(f"{source}: unreadable encryption header; the file was tampered "
                            "with or truncated") from None
    if was != (role, name):
        raise ArtifactError(f"{source}: encrypted as role '{was[0]}' under the name "
                            f"'{was[1]}', but role '{role}' and name '{name}' were expected: "
                            "the file was renamed or swapped with another; refusing it")
    nonce = blob[body_end:body_end + NONCE_BYTES]
    try:
        return _aead(key).decrypt(nonce, blob[body_end + NONCE_BYTES:], blob[:body_end])
    except InvalidTag:
        raise ArtifactError(f"{source}: authentication failed: wrong key, or the file was "
                            "tampered with, truncated or renamed; refusing to use it") from None


def _data_role(role: str) -> str:
    if not _ROLE.match(role) or role == MODEL_ROLE:
        raise ConfigError(f"encryption role {role!r}: expected a lower-case word such as "
                          "'interactions', 'users' or 'items' ('model' is reserved for "
                          "model directories)")
    return role


def encrypt_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], key: bytes,
                 role: str) -> Path:
    """Encrypt file ``src`` into ``dst`` (any data file: CSV, Parquet, …) as ``role``
    (``interactions``, ``users``, ``items``, …), bound to ``dst``'s file name."""
    out = Path(dst)
    blob = encrypt_bytes(Path(src).read_bytes(), key, _data_role(role), out.name)
    return write_files(out.parent, [(out.name, blob)]) / out.name


def decrypt_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], key: bytes,
                 role: str) -> Path:
    """Decrypt ``src`` (written by :func:`encrypt_file` under this name) into ``dst``,
    refusing it unless it was encrypted as ``role``."""
    source = Path(src)
    plain = decrypt_bytes(source.read_bytes(), key, _data_role(role), source.name,
                          source=str(src))
    out = Path(dst)
    return write_files(out.parent, [(out.name, plain)]) / out.name


def is_encrypted_model(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a model directory written by :func:`save_model` with a key."""
    return (Path(path) / ENCRYPTED_MODEL).is_file()


def _encrypted(files: Iterable[tuple[str, bytes]], key: bytes) -> Iterator[tuple[str, bytes]]:
    """Each artifact file encrypted as ``<name>.enc``, then the plain descriptor."""
    names = []
    for name, data in files:
        names.append(name)
        yield f"{name}.enc", encrypt_bytes(data, key, MODEL_ROLE, name)
    descriptor = {"format": "trustrec-encrypted-model", "version": 2, "cipher": _CIPHER,
                  "key_derivation": "HKDF-SHA256, info 'trustrec/aes-256-gcm'",
                  "files": [f"{n}.enc" for n in names]}
    yield ENCRYPTED_MODEL, json.dumps(descriptor, indent=2).encode()


def save_model(model: Recommender, path: str | os.PathLike[str],
               key: bytes | None = None) -> Path:
    """Save ``model`` into directory ``path``, every file encrypted (in memory) when ``key``
    is given."""
    root = Path(path)
    if key is None:
        return model.save(root)
    if (root / MANIFEST).exists():
        raise ArtifactError(f"{root}: holds a plain model; choose an empty folder for an "
                            "encrypted one")
    return write_files(root, _encrypted(model.to_files(), key))


class _DecryptedFiles(Mapping[str, bytes]):
    """The plain files of an encrypted model directory by name, decrypted in memory when
    asked for."""

    def __init__(self, root: Path, key: bytes, names: list[str]) -> None:
        self.root, self.key, self.names = root, key, names

    def __getitem__(self, name: str) -> bytes:
        if name not in self.names:
            raise KeyError(name)
        source = self.root / f"{name}.enc"
        if not source.is_file():
            raise ArtifactError(f"{source}: encrypted file missing")
        return decrypt_bytes(source.read_bytes(), self.key, MODEL_ROLE, name,
                             source=str(source))

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def load_model(path: str | os.PathLike[str], key: bytes | None = None) -> Recommender:
    """Load a model directory, decrypting it in memory when it is encrypted.

    An encrypted directory needs ``key``; a plain one given a key is refused too, so that a
    swapped-in unencrypted model cannot pass for the encrypted one.
    """
    root = Path(path)
    if not is_encrypted_model(root):
        if key is not None:
            raise ArtifactError(f"{root}: not an encrypted model (no {ENCRYPTED_MODEL}) but a "
                                "key was given; refusing an unauthenticated model")
        return Recommender.load(root)
    if key is None:
        raise ArtifactError(f"{root}: the model is encrypted; give its key file "
                            "(--key-file)")
    try:
        files = json.loads((root / ENCRYPTED_MODEL).read_text())["files"]
        names = [Path(str(enc)).name.removesuffix(".enc") for enc in files]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{root / ENCRYPTED_MODEL}: invalid descriptor ({exc})") from None
    return Recommender.from_files(_DecryptedFiles(root, key, names), str(root))

"""Encryption at rest: AES-256-GCM for data files and saved model directories.

Every encrypted file is ``MAGIC | 12-byte random nonce | ciphertext | 16-byte tag``; the
tag authenticates the content *and* a label (the file's role and name, as associated
data), so a flipped bit, a truncated file, a file renamed or swapped between roles, or a
wrong key is refused with an :class:`ArtifactError` before anything is parsed. The AES key
is an HKDF sub-key of the key file (:mod:`trustrec.privacy.keys`); no key or key-derived
value is ever logged or written to disk.

An encrypted model directory holds one ``<file>.enc`` per file of the plain artifact
(manifest included, so even the model's configuration and IDs stay private) and a plain
``encrypted.json`` that says how it was encrypted — never with what key.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trustrec.errors import ArtifactError
from trustrec.models.artifact import MANIFEST
from trustrec.models.base import Recommender
from trustrec.privacy.keys import derive_key

MAGIC = b"TRRENC1\x00"
NONCE_BYTES = 12
#: The plain descriptor of an encrypted model directory.
ENCRYPTED_MODEL = "encrypted.json"
_CIPHER = "AES-256-GCM"


def _aead(key: bytes) -> AESGCM:
    return AESGCM(derive_key(key, "aes-256-gcm"))


def encrypt_bytes(data: bytes, key: bytes, label: str) -> bytes:
    """``data`` encrypted and authenticated under ``key``, bound to ``label``."""
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + _aead(key).encrypt(nonce, data, label.encode())


def decrypt_bytes(blob: bytes, key: bytes, label: str, source: str = "input") -> bytes:
    """The plaintext of ``blob``; ``ArtifactError`` naming ``source`` if it does not verify."""
    head = len(MAGIC) + NONCE_BYTES
    if not blob.startswith(MAGIC) or len(blob) < head + 16:
        raise ArtifactError(f"{source}: not a trustrec-encrypted file (expected the "
                            f"{MAGIC[:-1].decode()} header and at least {head + 16} bytes)")
    try:
        return _aead(key).decrypt(blob[len(MAGIC):head], blob[head:], label.encode())
    except InvalidTag:
        raise ArtifactError(f"{source}: authentication failed: wrong key, or the file was "
                            "tampered with, truncated or renamed; refusing to use it") from None


def encrypt_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], key: bytes) -> Path:
    """Encrypt file ``src`` into ``dst`` (any data file: CSV, Parquet, …)."""
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(encrypt_bytes(Path(src).read_bytes(), key, "file"))
    return out


def decrypt_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], key: bytes) -> Path:
    """Decrypt ``src`` (written by :func:`encrypt_file`) into ``dst``."""
    plain = decrypt_bytes(Path(src).read_bytes(), key, "file", source=str(src))
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(plain)
    return out


def is_encrypted_model(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a model directory written by :func:`save_model` with a key."""
    return (Path(path) / ENCRYPTED_MODEL).is_file()


def save_model(model: Recommender, path: str | os.PathLike[str],
               key: bytes | None = None) -> Path:
    """Save ``model`` into directory ``path``, every file encrypted when ``key`` is given."""
    root = Path(path)
    if key is None:
        return model.save(root)
    if (root / MANIFEST).exists():
        raise ArtifactError(f"{root}: holds a plain model; choose an empty folder for an "
                            "encrypted one")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trustrec-plain-") as tmp:
        plain = model.save(Path(tmp) / "model")
        names = sorted(p.name for p in plain.iterdir())
        for name in names:
            blob = encrypt_bytes((plain / name).read_bytes(), key, f"model/{name}")
            (root / f"{name}.enc").write_bytes(blob)
    descriptor = {"format": "trustrec-encrypted-model", "version": 1, "cipher": _CIPHER,
                  "key_derivation": "HKDF-SHA256, info 'trustrec/aes-256-gcm'",
                  "files": [f"{n}.enc" for n in names]}
    (root / ENCRYPTED_MODEL).write_text(json.dumps(descriptor, indent=2))
    return root


def load_model(path: str | os.PathLike[str], key: bytes | None = None) -> Recommender:
    """Load a model directory, decrypting it first when it is encrypted.

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
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{root / ENCRYPTED_MODEL}: invalid descriptor ({exc})") from None
    with tempfile.TemporaryDirectory(prefix="trustrec-plain-") as tmp:
        plain = Path(tmp)
        for enc in files:
            name = str(enc).removesuffix(".enc")
            source = root / Path(str(enc)).name
            if not source.is_file():
                raise ArtifactError(f"{source}: encrypted file missing")
            data = decrypt_bytes(source.read_bytes(), key, f"model/{name}", source=str(source))
            (plain / Path(name).name).write_bytes(data)
        return Recommender.load(plain)

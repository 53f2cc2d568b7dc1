"""Artifact signatures: what the service may load besides the model it was started with.

A manifest lists each array's SHA-256, so whoever can write a model directory can also
rewrite an array *and* its hash. The service therefore signs manifests: ``manifest.sig``
holds ``HMAC-SHA256(server key, manifest.json bytes)``, with a random 256-bit key kept in
the event database (table ``server_secrets``, created on first use), which the model
directory's writers need not be able to read. The directory named at start-up is trusted
as it is then and signed; every later load (``POST /v1/admin/reload``, a rewritten served
directory) needs a valid signature: the service signs what it saves itself (an unlearned
model) and ``trustrec keys sign-model`` signs a model an operator approves.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from trustrec.errors import ArtifactError
from trustrec.models.artifact import MANIFEST, Companions
from trustrec.serve.store import EventStore, server_secrets

#: Signature file next to the manifest.
SIGNATURE = "manifest.sig"
_KEY_NAME = "artifact-signing"


def server_key(store: EventStore) -> bytes:
    """The service's signing key, created in ``store`` on first use."""
    query = sa.select(server_secrets.c.value).where(server_secrets.c.name == _KEY_NAME)
    with store.engine.connect() as conn:
        found = conn.execute(query).scalar_one_or_none()
    if found is not None:
        return bytes(found)
    try:
        with store.engine.begin() as conn:
            conn.execute(server_secrets.insert().values(name=_KEY_NAME,
                                                        value=secrets.token_bytes(32)))
    except IntegrityError:
        pass  # another process created it first: use theirs
    with store.engine.connect() as conn:
        return bytes(conn.execute(query).scalar_one())


def _mac(key: bytes, manifest: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def _manifest_bytes(path: Path) -> bytes:
    try:
        return (path / MANIFEST).read_bytes()
    except OSError:
        raise ArtifactError(f"{path}: not a trustrec model directory (no {MANIFEST})") from None


def signature(key: bytes) -> Companions:
    """What an atomic save writes beside the manifest it commits (:func:`write_artifact`):
    ``manifest.sig`` for those manifest bytes, so the generation is signed once committed."""
    return lambda manifest: {SIGNATURE: (_mac(key, manifest) + "\n").encode()}


def sign_artifact(path: str | os.PathLike[str], key: bytes) -> Path:
    """Write ``manifest.sig`` for the manifest now in ``path`` (atomically); its path."""
    root = Path(path)
    tmp = root / f"{SIGNATURE}.{secrets.token_hex(4)}.tmp"
    tmp.write_bytes(signature(key)(_manifest_bytes(root))[SIGNATURE])
    tmp.replace(root / SIGNATURE)
    return root / SIGNATURE


def verify_artifact(path: str | os.PathLike[str], key: bytes) -> bytes:
    """The manifest bytes of ``path`` if ``manifest.sig`` signs them with ``key``;
    ``ArtifactError`` otherwise."""
    root = Path(path)
    manifest = _manifest_bytes(root)
    try:
        presented = (root / SIGNATURE).read_text().strip()
    except OSError:
        raise ArtifactError(f"{root}: unsigned artifact ({SIGNATURE} missing); sign it with "
                            "`trustrec keys sign-model` before the service may load it") from None
    if not hmac.compare_digest(presented, _mac(key, manifest)):
        raise ArtifactError(f"{root}: {SIGNATURE} does not match the manifest (changed since "
                            "it was signed, or signed with another key); refusing to load")
    return manifest

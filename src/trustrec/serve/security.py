"""API keys, roles and per-key rate limiting for the service.

A key reads ``trk_<key_id>_<secret>``: the ``key_id`` finds the row, the 256-bit random
secret is never stored — only ``HMAC-SHA256(salt, secret)`` with a per-key random salt,
compared in constant time. A slow hash (scrypt, PBKDF2) adds nothing against guessing a
256-bit secret and would cost milliseconds per request. Roles are ordered
``read < write < admin``: a key may do what its role and every lower role may.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from trustrec.errors import ConfigError
from trustrec.serve.store import EventStore, api_keys

ROLES = ("read", "write", "admin")
_PREFIX = "trk"


@dataclass(frozen=True)
class ApiKey:
    """A stored key: its public ``key_id``, a ``name`` for people, and its ``role``."""

    key_id: str
    name: str
    role: str
    salt: bytes
    digest: bytes

    def allows(self, role: str) -> bool:
        """Whether this key may act with ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`; ``ConfigError`` otherwise."""
    if role not in ROLES:
        raise ConfigError(f"API key role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def create_key(store: EventStore, name: str, role: str) -> str:
    """Create a key with ``role``; returns the full key, which is shown only this once."""
    check_role(role)
    key_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_bytes(16)
    with store.engine.begin() as conn:
        conn.execute(api_keys.insert().values(key_id=key_id, name=name, role=role, salt=salt,
                                              digest=_digest(salt, secret),
                                              created_at=time.time(), revoked=False))
    return f"{_PREFIX}_{key_id}_{secret}"


def list_keys(store: EventStore) -> pd.DataFrame:
    """Stored keys (never their secrets): ``key_id, name, role, created_at, revoked``."""
    query = sa.select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role,
                      api_keys.c.created_at, api_keys.c.revoked).order_by(api_keys.c.created_at)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["key_id", "name", "role", "created_at", "revoked"])


def revoke_key(store: EventStore, key_id: str) -> bool:
    """Revoke key ``key_id``; returns whether such a key existed."""
    with store.engine.begin() as conn:
        n = conn.execute(api_keys.update().where(api_keys.c.key_id == key_id)
                         .values(revoked=True)).rowcount
    return bool(n)


class KeyRing:
    """The active keys, read from the store and re-read at most every ``ttl`` seconds, so a
    new or revoked key takes effect within ``ttl`` without a restart."""

    def __init__(self, store: EventStore, ttl: float = 5.0) -> None:
        self.store, self.ttl = store, ttl
        self._keys: dict[str, ApiKey] = {}
        self._loaded = -float("inf")
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        query = sa.select(api_keys).where(api_keys.c.revoked.is_(False))
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        self._keys = {r.key_id: ApiKey(r.key_id, r.name, r.role, bytes(r.salt), bytes(r.digest))
                      for r in rows}
        self._loaded = time.monotonic()

    def verify(self, presented: str) -> ApiKey | None:
        """The key that ``presented`` proves, or None for a malformed, unknown or wrong one."""
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        with self._lock:
            if time.monotonic() - self._loaded > self.ttl:
                self._refresh()
            key = self._keys.get(parts[1])
        if key is None or not hmac.compare_digest(key.digest, _digest(key.salt, parts[2])):
            return None
        return key


class RateLimiter:
    """Token buckets per identity: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigError(f"rate limit needs rate > 0 and burst ≥ 1; got {rate}, {burst}")
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, identity: str, now: float | None = None) -> float:
        """Take one token for ``identity``: 0 if allowed, else seconds until one is free."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(identity, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[identity] = (tokens - 1.0, now)
                return 0.0
            self._buckets[identity] = (tokens, now)
            return (1.0 - tokens) / self.rate

"""API keys, roles, user scopes and rate limiting for the service.

A key reads ``trk_<key_id>_<secret>``: the ``key_id`` finds the row, the 256-bit random
secret is never stored — only ``HMAC-SHA256(salt, secret)`` with a per-key random salt,
compared in constant time. A slow hash (scrypt, PBKDF2) adds nothing against guessing a
256-bit secret and would cost milliseconds per request. Roles are ordered
``metrics < read < write < admin``: a key may do what its role and every lower role may.
A key is either a *service* key, acting for every user, or an *end-user* key scoped to the
users listed for it: it reads and writes only their data and never the service-wide routes
(``/metrics``, reload).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from trustrec.errors import ConfigError
from trustrec.serve.store import EventStore, api_key_users, api_keys

ROLES = ("metrics", "read", "write", "admin")
_PREFIX = "trk"


@dataclass(frozen=True)
class ApiKey:
    """A stored key: its public ``key_id``, a ``name`` for people, its ``role`` and the
    ``users`` it may act for (None: a service key, every user)."""

    key_id: str
    name: str
    role: str
    salt: bytes
    digest: bytes
    users: frozenset[str] | None = None

    def allows(self, role: str) -> bool:
        """Whether this key may act with ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def may_act_for(self, user_id: str) -> bool:
        """Whether this key may read or write ``user_id``'s data."""
        return self.users is None or user_id in self.users


def _digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`; ``ConfigError`` otherwise."""
    if role not in ROLES:
        raise ConfigError(f"API key role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def create_key(store: EventStore, name: str, role: str,
               users: Iterable[str] | None = None) -> str:
    """Create a key with ``role``, scoped to ``users`` when given (an end-user key; None: a
    service key for every user); returns the full key, which is shown only this once."""
    check_role(role)
    scope = None if users is None else sorted(set(users))
    if scope is not None and not scope:
        raise ConfigError("an end-user API key needs at least one user ID")
    key_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_bytes(16)
    with store.engine.begin() as conn:
        conn.execute(api_keys.insert().values(key_id=key_id, name=name, role=role, salt=salt,
                                              digest=_digest(salt, secret),
                                              created_at=time.time(), revoked=False))
        if scope:
            conn.execute(api_key_users.insert(), [{"key_id": key_id, "user_id": user}
                                                  for user in scope])
    return f"{_PREFIX}_{key_id}_{secret}"


def _scopes(conn: sa.Connection) -> dict[str, frozenset[str]]:
    """User scope of every end-user key."""
    scopes: dict[str, set[str]] = {}
    for key_id, user in conn.execute(sa.select(api_key_users.c.key_id,
                                               api_key_users.c.user_id)).all():
        scopes.setdefault(key_id, set()).add(user)
    return {key_id: frozenset(users) for key_id, users in scopes.items()}


def list_keys(store: EventStore) -> pd.DataFrame:
    """Stored keys (never their secrets): ``key_id, name, role, users, created_at,
    revoked``; ``users`` is None for a service key."""
    query = sa.select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role,
                      api_keys.c.created_at, api_keys.c.revoked).order_by(api_keys.c.created_at)
    with store.engine.connect() as conn:
        rows, scopes = conn.execute(query).all(), _scopes(conn)
    frame = pd.DataFrame(rows, columns=["key_id", "name", "role", "created_at", "revoked"])
    users = [sorted(scopes[k]) if k in scopes else None for k in frame["key_id"]]
    frame.insert(3, "users", pd.Series(users, index=frame.index, dtype=object))
    return frame


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
            rows, scopes = conn.execute(query).all(), _scopes(conn)
        self._keys = {r.key_id: ApiKey(r.key_id, r.name, r.role, bytes(r.salt), bytes(r.digest),
                                       scopes.get(r.key_id)) for r in rows}
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
    """Token buckets per identity: ``rate`` requests per second, bursts up to ``burst``.

    At most ``max_identities`` buckets are kept; the least recently used goes first, so
    invented identities cannot grow memory without bound.
    """

    def __init__(self, rate: float, burst: int, max_identities: int = 100_000) -> None:
        if rate <= 0 or burst < 1 or max_identities < 1:
            raise ConfigError(f"rate limit needs rate > 0, burst ≥ 1 and max_identities ≥ 1; "
                              f"got {rate}, {burst}, {max_identities}")
        self.rate, self.burst, self.max_identities = rate, burst, max_identities
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, identity: str, now: float | None = None) -> float:
        """Take one token for ``identity``: 0 if allowed, else seconds until one is free."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(identity, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[identity] = (tokens - 1.0 if allowed else tokens, now)
            self._buckets.move_to_end(identity)
            while len(self._buckets) > self.max_identities:
                self._buckets.popitem(last=False)
            return 0.0 if allowed else (1.0 - tokens) / self.rate

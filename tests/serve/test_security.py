"""API keys stored hashed, role order, token buckets."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from trustrec.errors import ConfigError
from trustrec.serve.security import KeyRing, RateLimiter, create_key, list_keys, revoke_key
from trustrec.serve.store import EventStore, api_keys


def test_keys_are_stored_hashed_and_verified(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'k.db'}")
    key = create_key(store, "ci", "write")
    secret = key.split("_", 2)[2]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(api_keys)).one()
    assert secret.encode() not in row.digest and secret.encode() not in row.salt
    ring = KeyRing(store, ttl=0)
    found = ring.verify(key)
    assert found is not None and found.role == "write"
    assert found.allows("read") and found.allows("write") and not found.allows("admin")
    assert ring.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert ring.verify("not-a-key") is None
    assert list_keys(store)["name"].tolist() == ["ci"]
    assert revoke_key(store, found.key_id) and ring.verify(key) is None
    with pytest.raises(ConfigError, match="role"):
        create_key(store, "x", "root")
    store.close()


def test_token_bucket_refills_at_its_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=2)
    assert [limiter.acquire("a", now=0.0) for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a", now=0.0) == pytest.approx(0.5)
    assert limiter.acquire("b", now=0.0) == 0.0  # buckets are per identity
    assert limiter.acquire("a", now=0.5) == 0.0  # one token back after 1/rate seconds
    with pytest.raises(ConfigError):
        RateLimiter(rate=0, burst=1)


def test_token_buckets_are_bounded_in_number() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_identities=3)
    for n in range(1000):  # invented client addresses
        limiter.acquire(f"ip:10.0.{n // 256}.{n % 256}", now=0.0)
    assert len(limiter._buckets) == 3
    assert limiter.acquire("ip:10.0.3.231", now=0.0) > 0  # the latest are still remembered

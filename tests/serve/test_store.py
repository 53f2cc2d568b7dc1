"""The event store on SQLite and, where ``TRUSTREC_TEST_POSTGRES_URL`` is set, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from trustrec.errors import DataError
from trustrec.serve.store import Event, EventStore, IdempotencyConflict, StoreError


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh store on each backend (PostgreSQL only when a test URL is configured)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.db'}"
    else:
        url = os.environ.get("TRUSTREC_TEST_POSTGRES_URL", "")
        if not url:
            pytest.skip("set TRUSTREC_TEST_POSTGRES_URL to test against PostgreSQL")
    s = EventStore(url)
    if request.param == "postgresql":  # a shared server: start from empty tables
        from trustrec.serve.store import metadata

        metadata.drop_all(s.engine)
        metadata.create_all(s.engine)
    yield s
    s.close()


def test_batches_are_committed_and_read_back_in_order(store: EventStore) -> None:
    batch = [Event("u1", "i1", "click", 1.0, 100), Event("u1", "i2", "rating", 4.5, 101),
             Event("u2", "i1", "like")]
    result = store.add_events(batch, now=500.0)
    assert (result.n_events, result.duplicate) == (3, False)
    mine = store.user_events("u1")
    assert mine.item_id.tolist() == ["i1", "i2"] and mine.type.tolist() == ["click", "rating"]
    assert mine.value.tolist() == [1.0, 4.5]
    exported = store.export()
    assert list(exported.columns) == ["user_id", "item_id", "rating", "timestamp", "type"]
    assert exported["timestamp"].tolist() == [100, 101, 500]


def test_user_events_keeps_the_latest(store: EventStore) -> None:
    store.add_events([Event("u", f"i{n}", timestamp=n) for n in range(10)])
    assert store.user_events("u", limit=3).item_id.tolist() == ["i7", "i8", "i9"]


def test_idempotency_key_stores_a_batch_once(store: EventStore) -> None:
    key = str(uuid.uuid4())
    batch = [Event("u1", "i1"), Event("u1", "i2")]
    assert not store.add_events(batch, idempotency_key=key, scope="a").duplicate
    again = store.add_events(batch, idempotency_key=key, scope="a")
    assert again.duplicate and again.n_events == 2
    with pytest.raises(IdempotencyConflict, match="other events"):
        store.add_events(batch + batch, idempotency_key=key, scope="a")
    # another client's key of the same text is another batch
    assert not store.add_events(batch, idempotency_key=key, scope="b").duplicate
    assert store.count_events() == 4


def test_unknown_event_type_stores_nothing(store: EventStore) -> None:
    with pytest.raises(DataError, match="field 'type'"):
        store.add_events([Event("u1", "i1"), Event("u1", "i2", "poke")])
    assert store.count_events() == 0


def test_delete_user_erases_events_and_served_rows(store: EventStore) -> None:
    store.add_events([Event("u1", "i1"), Event("u2", "i1"), Event("u1", "i3")])
    store.log_served("r1", "u1", ["i4", "i5"], [0.5, 0.25])
    assert store.delete_user("u1") == 2
    assert store.export()["user_id"].tolist() == ["u2"]
    assert store.served_log().empty


def test_nothing_acknowledged_is_lost_across_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    first = EventStore(url)
    for n in range(20):
        first.add_events([Event(f"u{n}", "i1")], idempotency_key=f"k{n}")
    first.engine.dispose()  # like a process that went away
    second = EventStore(url)
    assert second.count_events() == 20
    assert second.add_events([Event("u0", "i1")], idempotency_key="k0").duplicate
    second.close()


def test_unusable_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot open database URL"):
        EventStore("nosuchdialect://x")


def test_postgresql_url_without_a_driver_uses_psycopg() -> None:
    from trustrec.serve.store import make_engine

    for url in ("postgresql://u:p@127.0.0.1:1/db", "postgres://u:p@127.0.0.1:1/db"):
        engine = make_engine(url)  # nothing is connected yet
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
        engine.dispose()
    configured = os.environ.get("TRUSTREC_TEST_POSTGRES_URL", "")
    if configured:  # the URL form most tools print works against the real server too
        bare = EventStore(configured.replace("postgresql+psycopg://", "postgresql://", 1))
        assert bare.ping()
        bare.close()


def test_a_database_from_before_scoped_idempotency_keys_is_upgraded(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the table as older versions created it
        conn.execute(sa.text("CREATE TABLE event_batches (idempotency_key VARCHAR(256) "
                             "PRIMARY KEY, n_events INTEGER NOT NULL, received_at FLOAT NOT NULL)"))
    engine.dispose()
    store = EventStore(url)
    assert not store.add_events([Event("u1", "i1")], idempotency_key="k", scope="a").duplicate
    assert store.add_events([Event("u1", "i1")], idempotency_key="k", scope="a").duplicate
    store.close()

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


def test_concurrent_batches_are_all_stored_and_a_raced_key_once(store: EventStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def post(n: int) -> tuple[str, bool]:
        key = f"k{n // 2}"  # two clients race with each key (a retry: the same events)
        result = store.add_events([Event(f"u{n // 2}", "i1"), Event(f"u{n // 2}", "i2")],
                                  idempotency_key=key)
        return key, result.duplicate

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(post, range(64)))
    firsts = sorted(key for key, duplicate in outcomes if not duplicate)
    assert firsts == sorted({key for key, _ in outcomes})  # each key stored exactly once
    assert store.count_events() == 2 * 32


def test_a_conflicting_key_among_concurrent_batches_fails_alone(store: EventStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from trustrec.serve.store import IdempotencyConflict

    store.add_events([Event("u", "i1")], idempotency_key="taken", scope="a")

    def post(n: int) -> str:
        batch, key = ([Event("u", "other")], "taken") if n == 5 else ([Event(f"v{n}", "i1")],
                                                                      f"k{n}")
        try:
            store.add_events(batch, idempotency_key=key, scope="a")
        except IdempotencyConflict:
            return "conflict"
        return "stored"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(post, range(32)))
    assert outcomes.count("conflict") == 1 and outcomes[5] == "conflict"
    assert store.count_events() == 1 + 31  # the other batches of its group were committed
    assert not store.add_events([Event("v0", "i1")], idempotency_key="k0",
                                scope="b").duplicate  # another API key's own key space


def test_a_failing_request_in_a_commit_group_fails_alone(tmp_path: Path) -> None:
    import threading

    import sqlalchemy as sa
    from sqlalchemy.exc import OperationalError

    from trustrec.serve.commit import GroupCommitter
    from trustrec.serve.store import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'group.db'}")
    table = sa.Table("t", sa.MetaData(), sa.Column("v", sa.Integer))
    table.create(engine)
    gate = threading.Event()

    def apply(conn: sa.Connection, value: int) -> int:
        gate.wait(5)  # hold the first transaction so the rest queue into one group
        if value == 3:
            raise OperationalError("insert", {}, Exception("injected"))
        conn.execute(table.insert().values(v=value))
        return value

    committer = GroupCommitter(engine, apply)
    results: dict[int, object] = {}

    def submit(value: int) -> None:
        try:
            results[value] = committer.submit(value)
        except OperationalError as exc:
            results[value] = exc

    threads = [threading.Thread(target=submit, args=(v,)) for v in range(6)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(10)
    committer.close()
    assert isinstance(results.pop(3), OperationalError)
    assert results == {v: v for v in (0, 1, 2, 4, 5)}
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.select(table.c.v)).scalars()) == [0, 1, 2, 4, 5]
    engine.dispose()


def test_disliked_items_span_the_whole_history(store: EventStore) -> None:
    store.add_events([Event("u", "bad", "dislike"), Event("u", "back", "dislike"),
                      *(Event("u", f"i{n}") for n in range(20)), Event("u", "back", "like")])
    events = store.user_events("u", limit=5)
    assert "bad" not in events.item_id.tolist()  # outside the window …
    assert events.disliked.tolist() == ["bad"]  # … and still disliked; "back" was liked again

"""The durable event store: every acknowledged event, behind SQLAlchemy.

SQLite (WAL journal, ``synchronous=FULL``) is the embedded default and PostgreSQL works by
URL (``postgresql+psycopg://…``; psycopg is a dependency). A batch is committed in one
transaction before :meth:`EventStore.add_events` returns, so an acknowledged event survives
a crash; concurrent batches share a transaction (:mod:`trustrec.serve.commit`). A batch's
idempotency key is a primary key: a repeated key stores nothing and reports the first
batch's size. An erasure is recorded (``erasures``) in the transaction that deletes the
user's events, and stays pending until the model no longer holds the user, so a crash in
between is finished at the next start. The same database holds the API keys
(:mod:`trustrec.serve.security`) and the lists the bandit served
(:mod:`trustrec.serve.bandit`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from trustrec.errors import DataError, TrustrecError
from trustrec.serve.commit import GroupCommitter

#: Longest external ID (user, item) and idempotency key the store accepts.
MAX_ID_LENGTH = 256
#: Event types and whether they count as positive feedback.
EVENT_TYPES: dict[str, bool] = {"view": True, "click": True, "like": True, "purchase": True,
                                "rating": True, "dislike": False}

metadata = sa.MetaData()

batches = sa.Table(
    "event_batches", metadata,
    sa.Column("idempotency_key", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("n_events", sa.Integer, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("user_id", sa.String(MAX_ID_LENGTH), nullable=False, index=True),
    sa.Column("item_id", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("idempotency_key", sa.String(MAX_ID_LENGTH), nullable=True),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("salt", sa.LargeBinary(32), nullable=False),
    sa.Column("digest", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

served = sa.Table(
    "served", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, index=True),
    sa.Column("user_id", sa.String(MAX_ID_LENGTH), nullable=False, index=True),
    sa.Column("item_id", sa.String(MAX_ID_LENGTH), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("propensity", sa.Float, nullable=False),
    sa.Column("served_at", sa.Float, nullable=False),
)

erasures = sa.Table(
    "erasures", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("user_id", sa.String(MAX_ID_LENGTH), nullable=False, index=True),
    sa.Column("requested_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float, nullable=True),
)

#: ``INSERT … ON CONFLICT DO NOTHING`` of an idempotency key, per dialect
_CLAIM_KEY = {name: dialect.insert(batches).on_conflict_do_nothing()
              for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}
_USER = sa.bindparam("user")
#: A user's latest events, built once (read when the user's events changed).
_USER_EVENTS = (sa.select(events.c.item_id, events.c.type, events.c.value)
                .where(events.c.user_id == _USER)
                .order_by(events.c.id.desc()).limit(sa.bindparam("limit")))
#: Items whose latest event, over the user's whole history, is a dislike.
_USER_DISLIKED = (sa.select(events.c.item_id).where(events.c.user_id == _USER)
                  .group_by(events.c.item_id)
                  .having(sa.func.max(events.c.id) == sa.func.max(
                      sa.case((events.c.type == "dislike", events.c.id)))))
#: What changes whenever the user's stored state does (the hot query of every request).
_USER_VERSION = sa.select(
    sa.select(sa.func.count()).select_from(events).where(events.c.user_id == _USER)
    .scalar_subquery(),
    sa.select(sa.func.max(events.c.id)).where(events.c.user_id == _USER).scalar_subquery(),
    sa.select(sa.func.max(erasures.c.seq)).where(erasures.c.user_id == _USER)
    .scalar_subquery())


class StoreError(TrustrecError):
    """The event database cannot be reached or refused an operation."""


@dataclass(frozen=True)
class Event:
    """One interaction as clients send it (IDs as strings, ``timestamp`` in epoch seconds)."""

    user_id: str
    item_id: str
    type: str = "click"
    value: float = 1.0
    timestamp: int | None = None


@dataclass(frozen=True)
class UserEvents:
    """One user's latest events, oldest first, as parallel arrays, and ``disliked``: the
    items whose latest event over the user's *whole* history is a dislike."""

    item_id: np.ndarray
    type: np.ndarray
    value: np.ndarray
    disliked: np.ndarray

    def __len__(self) -> int:
        return len(self.item_id)


#: the events of a user who has none
NO_EVENTS = UserEvents(*(np.empty(0, dtype=str),) * 2, np.empty(0, np.float32),
                       np.empty(0, dtype=str))


@dataclass(frozen=True)
class UserVersion:
    """Changes whenever a user's stored state does: their event count, latest event ID and
    latest erasure (None: never erased). Equal versions mean equal stored state."""

    n_events: int
    last_event: int | None
    erasure: int | None

    @property
    def erased(self) -> bool:
        """The user was erased: the model's knowledge of them must not be used."""
        return self.erasure is not None


@dataclass(frozen=True)
class BatchResult:
    """Outcome of :meth:`EventStore.add_events`: events stored, or a duplicate batch."""

    n_events: int
    duplicate: bool


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine for ``url``; SQLite files get WAL, full sync and a busy timeout.

    A PostgreSQL URL without a driver (``postgresql://…``, ``postgres://…``) uses psycopg 3.
    """
    try:
        parsed = sa.make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except (ImportError, SQLAlchemyError, ValueError) as exc:
        raise StoreError(f"event store: cannot open database URL {url!r} "
                         f"({type(exc).__name__}: {exc}); for PostgreSQL install a driver "
                         "such as psycopg and use postgresql+psycopg://…") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class EventStore:
    """Events, idempotency keys, erasures, API keys and served lists in one SQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        compiled = _USER_VERSION.compile(dialect=self.engine.dialect)
        self._version_sql = compiled.string
        #: the driver's parameters for ``user``: positional or named, as the dialect wants
        self._version_params: Callable[[str], Any] = (
            (lambda user: tuple(user for _ in compiled.positiontup or ()))
            if compiled.positional else (lambda user: {name: user for name in compiled.params}))
        self._writer: GroupCommitter[tuple[list[dict[str, Any]], str | None, float],
                                     BatchResult] = GroupCommitter(self.engine, _store_batch)
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"event store {self._where()}: cannot create tables "
                             f"({type(exc).__name__}: {exc})") from None

    @property
    def local(self) -> bool:
        """A SQLite file: a read is a local call of microseconds, not a network round trip."""
        return self.engine.dialect.name == "sqlite"

    def _where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Stop the writer thread and release the connection pool."""
        self._writer.close()
        self.engine.dispose()

    def ping(self) -> bool:
        """Whether the database answers a trivial query (for ``/readyz``)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    # ------------------------------------------------------------------ events
    def add_events(self, batch: Sequence[Event], idempotency_key: str | None = None,
                   now: float | None = None) -> BatchResult:
        """Store ``batch`` in one committed transaction; returns when it is durable.

        With an ``idempotency_key`` already stored, nothing is written and the result has
        ``duplicate=True`` and the first batch's size. Events without a timestamp get ``now``.
        """
        now = time.time() if now is None else now
        for pos, ev in enumerate(batch):
            if ev.type not in EVENT_TYPES:
                raise DataError(f"event {pos}: field 'type' is {ev.type!r}, expected one of "
                                f"{', '.join(EVENT_TYPES)}")
        rows = [{"user_id": ev.user_id, "item_id": ev.item_id, "type": ev.type,
                 "value": float(ev.value),
                 "timestamp": int(now) if ev.timestamp is None else int(ev.timestamp),
                 "idempotency_key": idempotency_key} for ev in batch]
        try:
            return self._writer.submit((rows, idempotency_key, now))
        except SQLAlchemyError as exc:
            raise StoreError(f"event store {self._where()}: batch not stored "
                             f"({type(exc).__name__})") from None

    def user_events(self, user_id: str, limit: int = 500) -> UserEvents:
        """The user's latest ``limit`` events, oldest first, and the items they dislike."""
        with self.engine.connect() as conn:
            rows = conn.execute(_USER_EVENTS, {"user": user_id, "limit": limit}).all()[::-1]
            disliked = conn.execute(_USER_DISLIKED, {"user": user_id}).scalars().all()
        items, types, values = zip(*rows, strict=True) if rows else ((), (), ())
        return UserEvents(np.array(items, dtype=str), np.array(types, dtype=str),
                          np.array(values, dtype=np.float32), np.array(disliked, dtype=str))

    def user_version(self, user_id: str) -> UserVersion:
        """The user's :class:`UserVersion` (one small indexed query, asked on every
        recommendation: run on the driver's cursor, as SQLAlchemy's result machinery
        would cost several times the query itself)."""
        with self.engine.connect() as conn:
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.execute(self._version_sql, self._version_params(user_id))
                n, last, erasure = cursor.fetchone()
            finally:
                cursor.close()
        return UserVersion(int(n), last, erasure)

    def count_events(self) -> int:
        """Number of stored events."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())

    def delete_user(self, user_id: str, now: float | None = None) -> int:
        """Record a pending erasure of ``user_id`` and erase their events and served-list
        rows, in one transaction; returns the events erased."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            conn.execute(erasures.insert().values(user_id=user_id, requested_at=now))
            n = conn.execute(events.delete().where(events.c.user_id == user_id)).rowcount
            conn.execute(served.delete().where(served.c.user_id == user_id))
        return int(n)

    def pending_erasures(self) -> list[str]:
        """Users whose erasure is recorded but not yet finished in the model, oldest first."""
        query = (sa.select(erasures.c.user_id).where(erasures.c.done_at.is_(None))
                 .group_by(erasures.c.user_id).order_by(sa.func.min(erasures.c.seq)))
        with self.engine.connect() as conn:
            return [str(u) for u in conn.execute(query).scalars()]

    def finish_erasures(self, user_ids: Sequence[str], now: float | None = None) -> None:
        """Mark the erasures of ``user_ids`` done: the saved model no longer holds them."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            conn.execute(erasures.update().where(erasures.c.user_id.in_(list(user_ids)),
                                                 erasures.c.done_at.is_(None))
                         .values(done_at=now))

    def export(self) -> pd.DataFrame:
        """All events in arrival order as ``user_id, item_id, rating, timestamp, type``.

        ``rating`` is the event's value, so the table trains a model as it is
        (``trustrec train --interactions``); drop ``type == 'dislike'`` rows for
        positive-only training.
        """
        query = sa.select(events.c.user_id, events.c.item_id, events.c.value,
                          events.c.timestamp, events.c.type).order_by(events.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp", "type"])

    # ------------------------------------------------------------------ served lists
    def log_served(self, request_id: str, user_id: str, item_ids: Sequence[str],
                   propensities: Sequence[float], now: float | None = None) -> None:
        """Record one served list with each slot's propensity (for off-policy evaluation)."""
        now = time.time() if now is None else now
        rows = [{"request_id": request_id, "user_id": user_id, "item_id": item,
                 "position": pos, "propensity": float(p), "served_at": now}
                for pos, (item, p) in enumerate(zip(item_ids, propensities, strict=True))]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(served.insert(), rows)

    def served_log(self) -> pd.DataFrame:
        """Every served slot: ``request_id, user_id, item_id, position, propensity,
        served_at``."""
        query = sa.select(served.c.request_id, served.c.user_id, served.c.item_id,
                          served.c.position, served.c.propensity,
                          served.c.served_at).order_by(served.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(rows, columns=["request_id", "user_id", "item_id", "position",
                                           "propensity", "served_at"])


def _store_batch(conn: sa.Connection,
                 request: tuple[list[dict[str, Any]], str | None, float]) -> BatchResult:
    """Insert one batch inside the writer's transaction; a repeated idempotency key stores
    nothing and reports the first batch's size."""
    rows, key, now = request
    if key is not None:
        claim = _CLAIM_KEY.get(conn.dialect.name, _CLAIM_KEY["sqlite"])
        claimed = conn.execute(claim, {"idempotency_key": key, "n_events": len(rows),
                                       "received_at": now})
        if claimed.rowcount == 0:
            first = conn.execute(sa.select(batches.c.n_events).where(
                batches.c.idempotency_key == key)).scalar_one()
            return BatchResult(n_events=int(first), duplicate=True)
    if rows:
        conn.execute(events.insert(), rows)
    return BatchResult(n_events=len(rows), duplicate=False)

"""The durable event store: every acknowledged event, behind SQLAlchemy.

SQLite (WAL journal, ``synchronous=FULL``) is the embedded default and PostgreSQL works by
URL (``postgresql+psycopg://…``; psycopg is a dependency). A batch is committed in one
transaction before :meth:`EventStore.add_events` returns, so an acknowledged event survives
a crash; concurrent batches share a transaction (:mod:`trustrec.serve.commit`). A batch's
idempotency key belongs to the API key that sent it (stored as a hash of both, the primary
key) with a digest of its events: the same key with the same events stores nothing and
reports the first batch's size, with other events it is a conflict. A write that fails is
remembered with its reason until one succeeds, so readiness reflects the store. An erasure
is recorded (``erasures``) in the transaction that deletes the user's events, and stays
pending until the model no longer holds the user, so a crash in between is finished at the
next start. The same database holds the API keys and their user scopes
(:mod:`trustrec.serve.security`), the service's signing secret
(:mod:`trustrec.serve.signing`) and the lists the bandit served
(:mod:`trustrec.serve.bandit`), bounded in rows and age.
"""

from __future__ import annotations

import hashlib
import json
import logging
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

log = logging.getLogger(__name__)

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
    sa.Column("payload_sha256", sa.String(64), nullable=True),
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

#: The users an end-user key may act for; a key without rows here acts for every user.
api_key_users = sa.Table(
    "api_key_users", metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(MAX_ID_LENGTH), primary_key=True),
)

#: Secrets the service generates for itself (the artifact signing key).
server_secrets = sa.Table(
    "server_secrets", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.LargeBinary(64), nullable=False),
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
    sa.Column("served_at", sa.Float, nullable=False, index=True),
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
# RETURNING tells whether the row went in: psycopg reports rowcount -1 for this statement
_CLAIM_KEY = {name: dialect.insert(batches).on_conflict_do_nothing()
              .returning(batches.c.idempotency_key)
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
    """The event database cannot be reached or refused an operation.

    The message names the database (for logs and the CLI); ``public`` says the same without
    it, for HTTP clients.
    """

    def __init__(self, message: str, public: str = "the event store is unavailable") -> None:
        super().__init__(message)
        self.public = public


class IdempotencyConflict(TrustrecError):
    """An idempotency key came again with other events than its first batch."""


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


def scoped_key(scope: str, idempotency_key: str) -> str:
    """The stored form of a client's ``idempotency_key`` sent under ``scope`` (the API key
    ID): a SHA-256 of both, so keys of different clients never meet."""
    return hashlib.sha256(f"{scope}\0{idempotency_key}".encode()).hexdigest()


def batch_digest(batch: Sequence[Event]) -> str:
    """SHA-256 of a batch's events as sent (a missing timestamp stays missing)."""
    rows = [[ev.user_id, ev.item_id, ev.type, float(ev.value), ev.timestamp] for ev in batch]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


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
        #: why the last write failed, None once a write succeeds (see :meth:`writable`)
        self.write_error: str | None = None
        compiled = _USER_VERSION.compile(dialect=self.engine.dialect)
        self._version_sql = compiled.string
        #: the driver's parameters for ``user``: positional or named, as the dialect wants
        self._version_params: Callable[[str], Any] = (
            (lambda user: tuple(user for _ in compiled.positiontup or ()))
            if compiled.positional else (lambda user: {name: user for name in compiled.params}))
        self._writer: GroupCommitter[_BatchRequest,
                                     BatchResult] = GroupCommitter(self.engine, _store_batch)
        try:
            metadata.create_all(self.engine)
            self._add_missing_columns()
        except SQLAlchemyError as exc:
            raise StoreError(f"event store {self._where()}: cannot create tables "
                             f"({type(exc).__name__}: {exc})") from None

    def _add_missing_columns(self) -> None:
        """Add nullable columns that a database made by an older version lacks."""
        inspector = sa.inspect(self.engine)
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                have = {c["name"] for c in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in have and column.nullable:
                        kind = column.type.compile(dialect=self.engine.dialect)
                        conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN '
                                             f'{column.name} {kind}'))

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

    def _write_failed(self, what: str, exc: SQLAlchemyError) -> StoreError:
        """Remember and log why a write failed; the error to raise."""
        self.write_error = f"{what}: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        log.error("event store %s: %s", self._where(), self.write_error)
        return StoreError(f"event store {self._where()}: {what} ({type(exc).__name__})",
                          public=f"the event store refused the write; {what}")

    def probe_write(self) -> bool:
        """Whether a write works now: a batch row inserted and rolled back (nothing stays);
        a failure is remembered and logged like a failed write."""
        try:
            with self.engine.connect() as conn, conn.begin() as tx:
                conn.execute(batches.insert().values(idempotency_key="readyz-probe",
                                                     n_events=0, received_at=time.time()))
                tx.rollback()
        except SQLAlchemyError as exc:
            self._write_failed("probe write failed", exc)
            return False
        self.write_error = None
        return True

    def writable(self) -> bool:
        """Whether writes work: true unless the last write failed and a probe write fails
        too (for ``/readyz``)."""
        return self.write_error is None or self.probe_write()

    # ------------------------------------------------------------------ events
    def add_events(self, batch: Sequence[Event], idempotency_key: str | None = None,
                   now: float | None = None, scope: str = "") -> BatchResult:
        """Store ``batch`` in one committed transaction; returns when it is durable.

        An ``idempotency_key`` is ``scope``'s own (the sending API key). Already stored with
        the same events: nothing is written and the result has ``duplicate=True`` and the
        first batch's size; with other events: :class:`IdempotencyConflict`. Events without
        a timestamp get ``now``.
        """
        now = time.time() if now is None else now
        digest = batch_digest(batch) if idempotency_key is not None else None
        if idempotency_key is not None:
            idempotency_key = scoped_key(scope, idempotency_key)
        for pos, ev in enumerate(batch):
            if ev.type not in EVENT_TYPES:
                raise DataError(f"event {pos}: field 'type' is {ev.type!r}, expected one of "
                                f"{', '.join(EVENT_TYPES)}")
        rows = [{"user_id": ev.user_id, "item_id": ev.item_id, "type": ev.type,
                 "value": float(ev.value),
                 "timestamp": int(now) if ev.timestamp is None else int(ev.timestamp),
                 "idempotency_key": idempotency_key} for ev in batch]
        try:
            result = self._writer.submit((rows, idempotency_key, now, digest))
        except SQLAlchemyError as exc:
            raise self._write_failed("batch not stored", exc) from None
        self.write_error = None
        return result

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
        """All events in arrival order as ``user_id, item_id, rating, timestamp, type``
        (``rating`` is the event's value); :func:`training_events` turns them into what a
        model should be trained on."""
        query = sa.select(events.c.user_id, events.c.item_id, events.c.value,
                          events.c.timestamp, events.c.type).order_by(events.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp", "type"])

    # ------------------------------------------------------------------ served lists
    def log_served(self, request_id: str, user_id: str, item_ids: Sequence[str],
                   propensities: Sequence[float], now: float | None = None,
                   max_rows: int | None = None, max_age_s: float | None = None) -> None:
        """Record one served list with each slot's propensity (for off-policy evaluation),
        then drop slots older than ``max_age_s`` and all but the latest ``max_rows``."""
        now = time.time() if now is None else now
        rows = [{"request_id": request_id, "user_id": user_id, "item_id": item,
                 "position": pos, "propensity": float(p), "served_at": now}
                for pos, (item, p) in enumerate(zip(item_ids, propensities, strict=True))]
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(served.insert(), rows)
                if max_age_s is not None:
                    conn.execute(served.delete().where(served.c.served_at < now - max_age_s))
                if max_rows is not None:  # ids grow with time: keep the latest max_rows
                    last = conn.execute(sa.select(sa.func.max(served.c.id))).scalar_one()
                    conn.execute(served.delete().where(served.c.id <= last - max_rows))
        except SQLAlchemyError as exc:
            raise self._write_failed("served list not logged", exc) from None

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



def training_events(frame: pd.DataFrame) -> pd.DataFrame:
    """What a retrain should see of an event log (``export()``'s columns): one row per
    (user, item) with its latest positive event's value and time, and no row for a pair
    whose latest event is negative (a ``dislike``): the rule the online history follows.
    Columns ``user_id, item_id, rating, timestamp``, rows in order of their latest event."""
    good = frame["type"].map(EVENT_TYPES).fillna(False).astype(bool)
    last_is_good = good.groupby([frame["user_id"], frame["item_id"]], sort=False) \
        .transform("last").astype(bool)
    keep = frame[good & last_is_good].drop_duplicates(["user_id", "item_id"], keep="last")
    return keep[["user_id", "item_id", "rating", "timestamp"]].reset_index(drop=True)


#: one batch for the writer: rows, scoped idempotency key, arrival time, payload digest
_BatchRequest = tuple[list[dict[str, Any]], str | None, float, str | None]


def _store_batch(conn: sa.Connection, request: _BatchRequest) -> BatchResult:
    """Insert one batch inside the writer's transaction. A repeated (scoped) idempotency key
    stores nothing: with the same payload digest it reports the first batch's size, with
    another it is an :class:`IdempotencyConflict`."""
    rows, key, now, digest = request
    if key is not None:
        claim = _CLAIM_KEY.get(conn.dialect.name, _CLAIM_KEY["sqlite"])
        claimed = conn.execute(claim, {"idempotency_key": key, "n_events": len(rows),
                                       "received_at": now, "payload_sha256": digest})
        if claimed.first() is None:  # the key was there already
            first = conn.execute(sa.select(batches.c.n_events, batches.c.payload_sha256)
                                 .where(batches.c.idempotency_key == key)).one()
            if first.payload_sha256 != digest:
                raise IdempotencyConflict("idempotency key already used with other events; "
                                          "send a new key for a new batch")
            return BatchResult(n_events=int(first.n_events), duplicate=True)
    if rows:
        conn.execute(events.insert(), rows)
    return BatchResult(n_events=len(rows), duplicate=False)

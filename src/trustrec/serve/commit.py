"""Group commit: one writer thread commits the write requests that queued meanwhile in one
transaction, so concurrent requests share one fsync instead of queueing for the database's
write lock one by one (SQLite's busy handler sleeps up to 100 ms per retry).

Each request waits for the commit of the transaction holding it, so an acknowledged write
is durable exactly as with a transaction of its own. When a grouped transaction fails,
every request in it is retried alone, so one bad request never fails the others.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

import sqlalchemy as sa

T = TypeVar("T")
R = TypeVar("R")
#: most requests one transaction holds
MAX_GROUP = 256


class GroupCommitter(Generic[T, R]):
    """Runs ``apply(conn, request)`` for queued requests, many per transaction."""

    def __init__(self, engine: sa.Engine, apply: Callable[[sa.Connection, T], R]) -> None:
        self.engine, self.apply = engine, apply
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, request: T) -> R:
        """Commit ``request`` (grouped with others) and return its result once durable."""
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name="trustrec-group-commit")
                    self._thread.start()
        done: Future[R] = Future()
        self._queue.put((request, done))
        return done.result()

    def close(self) -> None:
        """Stop the writer thread after the requests already queued."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(more)
            self._commit(group)

    def _commit(self, group: list[tuple[T, Future[R]]]) -> None:
        if len(group) > 1:
            try:
                with self.engine.begin() as conn:
                    results = [self.apply(conn, request) for request, _ in group]
            except Exception:  # retried one by one below: each request gets its own answer
                pass
            else:
                for (_, done), result in zip(group, results, strict=True):
                    done.set_result(result)
                return
        for request, done in group:
            try:
                with self.engine.begin() as conn:
                    result = self.apply(conn, request)
            except Exception as exc:  # any failure is the waiting request's answer
                done.set_exception(exc)
            else:
                done.set_result(result)

"""Readiness follows the store (issue 14, point 15): a store that refuses writes makes
``/readyz`` fail, every refused write is logged with its reason, and no reply names the
database."""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy as sa

from tests.serve.conftest import bearer


def test_readyz_fails_while_writes_fail_and_the_reason_is_logged(make_client, keys, db_url,
                                                                 caplog) -> None:
    client = make_client(key=keys["write"])
    engine = client.app.state.service.store.engine

    def disk_failure(_conn, _cursor, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            raise sqlite3.OperationalError("disk I/O error")

    event = {"events": [{"user_id": "u1", "item_id": "i1"}]}
    assert client.get("/readyz").status_code == 200
    sa.event.listen(engine, "before_cursor_execute", disk_failure)
    with caplog.at_level(logging.ERROR, logger="trustrec.serve.store"):
        refused = client.post("/v1/events", json=event)
    assert refused.status_code == 503
    assert db_url.split("///")[1] not in refused.text and "sqlite" not in refused.text
    assert any("disk I/O error" in r.getMessage() for r in caplog.records)
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503 and "refuses writes" in not_ready.json()["detail"]
    sa.event.remove(engine, "before_cursor_execute", disk_failure)
    assert client.get("/readyz").status_code == 200  # the probe write succeeds again
    assert client.post("/v1/events", json=event, headers=bearer(keys["write"])).status_code == 200

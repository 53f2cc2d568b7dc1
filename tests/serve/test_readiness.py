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


def test_a_store_that_refuses_writes_from_the_start_is_not_ready(model_dir, tmp_path,
                                                                 caplog) -> None:
    from fastapi.testclient import TestClient

    from trustrec.serve import Settings, create_app
    from trustrec.serve.signing import server_key
    from trustrec.serve.store import EventStore

    path = tmp_path / "events.db"
    store = EventStore(f"sqlite:///{path}")
    server_key(store)  # tables and signing key exist; then the file is opened read-only
    store.close()
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    with caplog.at_level(logging.ERROR, logger="trustrec.serve.store"):
        app = create_app(Settings(model_dir=model_dir, db_url=url))
    with TestClient(app, raise_server_exceptions=False) as client:
        not_ready = client.get("/readyz")
    app.state.service.close()
    assert not_ready.status_code == 503 and str(path) not in not_ready.text
    assert any("readonly" in r.getMessage() for r in caplog.records)

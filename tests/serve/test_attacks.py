"""The service under attack (issue 14, Security 1–9): each test is an attack that got through
before and is refused now, through FastAPI's test client."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import bearer
from trustrec.serve import Settings, create_app
from trustrec.serve.security import create_key
from trustrec.serve.store import EventStore


def _key(db_url: str, role: str, users: list[str] | None = None) -> str:
    store = EventStore(db_url)
    try:
        return create_key(store, f"attack-{role}", role, users=users)
    finally:
        store.close()


# ---------------------------------------------------------------- 1. who may read what
def test_nobody_reads_another_users_data(make_client, keys, db_url: str) -> None:
    client = make_client()
    anonymous = client.get("/v1/explain/u1/i3")
    assert anonymous.status_code == 401 and "Because" not in anonymous.text
    assert client.get("/v1/recommendations/u1").status_code == 401
    mine = _key(db_url, "write", users=["u1"])  # an end-user token for u1
    assert client.get("/v1/recommendations/u1", headers=bearer(mine)).status_code == 200
    for url in ("/v1/recommendations/u2", "/v1/explain/u2/i3", "/metrics"):
        assert client.get(url, headers=bearer(mine)).status_code == 403, url
    search = {"query": "anything", "user_id": "u2"}
    assert client.post("/v1/search", json=search, headers=bearer(mine)).status_code == 403
    # writing for someone else is refused too, and stores nothing
    forged = {"events": [{"user_id": "u1", "item_id": "i1"}, {"user_id": "u2", "item_id": "i1"}]}
    assert client.post("/v1/events", json=forged, headers=bearer(mine)).status_code == 403
    assert client.app.state.service.store.count_events() == 0
    own = {"events": [{"user_id": "u1", "item_id": "i1"}]}
    assert client.post("/v1/events", json=own, headers=bearer(mine)).status_code == 200
    # a service key reads every user
    assert client.get("/v1/recommendations/u2", headers=bearer(keys["read"])).status_code == 200


# ---------------------------------------------------------------- 2. rate limit
def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_client) -> None:
    # the real server (uvicorn) side of this attack: tests/cli/test_serve.py
    client = make_client(rate=0.01, burst=2, anonymous_reads=True)
    codes = [client.get("/v1/items/i1", headers={"X-Forwarded-For": f"10.0.{n}.1"}).status_code
             for n in range(4)]
    assert codes == [200, 200, 429, 429]


def test_limits_hold_per_key_and_per_address_behind_a_trusted_proxy(make_client, keys) -> None:
    # the test client's peer is "testclient": trusted, so X-Forwarded-For names the client
    client = make_client(rate=0.01, burst=2, trusted_proxies=("testclient",))
    one_key = [client.get("/v1/items/i1", headers={**bearer(keys["read"]),
                                                   "X-Forwarded-For": f"10.0.{n}.1"}).status_code
               for n in range(3)]
    assert one_key == [200, 200, 429]  # many addresses share the key's bucket
    one_address = [client.get("/v1/items/i1", headers={**bearer(k), "X-Forwarded-For": "10.9.9.9"})
                   .status_code for k in (keys["write"], keys["admin"], keys["read"])]
    assert one_address == [200, 200, 429]  # many keys share the address's bucket


# ---------------------------------------------------------------- 3. metrics
def test_invented_methods_and_paths_do_not_grow_the_metrics(make_client, keys,
                                                            db_url: str) -> None:
    client = make_client()
    for n in range(300):
        client.request(f"X{n:04d}", f"/v1/items/i{n}")
        client.get(f"/no/such/path/{n}")
    scraper = _key(db_url, "metrics")
    assert client.get("/metrics").status_code == 401
    assert client.get("/v1/recommendations/u1", headers=bearer(scraper)).status_code == 403
    text = client.get("/metrics", headers=bearer(scraper)).text
    series = [line for line in text.splitlines() if line.startswith("trustrec_requests_total")]
    assert not re.search(r"X\d{4}|/no/such", text)
    assert len(series) <= 5, series
    assert 'method="OTHER",route="/v1/items/{item_id}"' in text


# ---------------------------------------------------------------- 4. body before key
class _CountingApp:
    """ASGI wrapper counting the request-body bytes the app pulled."""

    def __init__(self, app) -> None:
        self.app, self.received = app, 0

    async def __call__(self, scope, receive, send) -> None:
        async def counted():
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


def test_a_large_body_is_refused_before_it_is_read(model_dir: Path, db_url: str, keys) -> None:
    app = create_app(Settings(model_dir=model_dir, db_url=db_url, max_body_bytes=1_000_000))
    counting = _CountingApp(app)
    event = json.dumps({"user_id": "u1", "item_id": "i1"})
    big = ('{"events": [' + ",".join([event] * 200_000) + "]}").encode()  # ~7 MB
    with TestClient(counting, raise_server_exceptions=False) as client:
        headers = {"Content-Type": "application/json"}
        no_key = client.post("/v1/events", content=big, headers=headers)
        assert no_key.status_code in (401, 413) and counting.received == 0
        chunked = client.post("/v1/events", content=iter([big]), headers=headers)
        assert chunked.status_code == 401 and counting.received == 0
        declared = client.post("/v1/events", content=big, headers={**headers,
                                                                   **bearer(keys["write"])})
        assert declared.status_code == 413 and counting.received == 0
        streamed = client.post("/v1/events", content=iter([big]),
                               headers={**headers, **bearer(keys["write"])})
        assert streamed.status_code == 413
        batch = {"events": [{"user_id": "u1", "item_id": "i1"}] * 10_001}
        over = client.post("/v1/events", json=batch, headers=bearer(keys["write"]))
        assert over.status_code == 413 and "10,000" in over.json()["detail"]
    assert app.state.service.store.count_events() == 0
    app.state.service.close()


# ---------------------------------------------------------------- 5. idempotency
def test_idempotency_keys_belong_to_the_api_key(make_client, db_url: str) -> None:
    client = make_client()
    alice, bob = _key(db_url, "write"), _key(db_url, "write")
    first = {"events": [{"user_id": "u1", "item_id": "i1"}], "idempotency_key": "batch-1"}
    other = {"events": [{"user_id": "u2", "item_id": "i2"}], "idempotency_key": "batch-1"}
    assert client.post("/v1/events", json=first, headers=bearer(alice)).json()["stored"] == 1
    # bob's batch under alice's idempotency key is bob's own batch: stored, not dropped
    stored = client.post("/v1/events", json=other, headers=bearer(bob)).json()
    assert stored["stored"] == 1 and not stored["duplicate"]
    conflict = client.post("/v1/events", json=other, headers=bearer(alice))
    assert conflict.status_code == 409 and "other events" in conflict.json()["detail"]
    again = client.post("/v1/events", json=first, headers=bearer(alice)).json()
    assert again["duplicate"] and again["stored"] == 0
    assert client.app.state.service.store.count_events() == 2


# ---------------------------------------------------------------- 6. reload and signatures
def _tamper(artifact: Path) -> None:
    """Rewrite one array and its SHA-256 in the manifest, as an attacker with write access
    to the model directory would."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    entry = next(e for n, e in manifest["arrays"].items() if n.startswith("state."))
    file = artifact / entry["file"]
    arr = np.load(file, allow_pickle=False)
    np.save(file, np.full_like(arr, 1), allow_pickle=False)
    entry["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    (artifact / "manifest.json").write_text(json.dumps(manifest))


def test_reload_refuses_foreign_paths_and_tampered_artifacts(make_client, keys, model_dir: Path,
                                                            tmp_path: Path) -> None:
    from trustrec.models import Recommender
    from trustrec.serve.signing import sign_artifact

    root, own = tmp_path / "models", tmp_path / "served"
    shutil.copytree(model_dir, own)
    shutil.copytree(model_dir, root / "next")
    client = make_client(key=keys["admin"], model_dir=own, model_roots=(root,))
    service = client.app.state.service
    outside = client.post("/v1/admin/reload", json={"model_dir": "/etc"})
    assert outside.status_code == 403 and "/etc" not in outside.text
    unsigned = client.post("/v1/admin/reload", json={"model_dir": str(root / "next")})
    assert unsigned.status_code == 422 and str(tmp_path) not in unsigned.text
    sign_artifact(root / "next", service.signing_key)
    _tamper(root / "next")
    Recommender.load(root / "next")  # the hashes match: only the signature can tell
    tampered = client.post("/v1/admin/reload", json={"model_dir": str(root / "next")})
    assert tampered.status_code == 422 and str(tmp_path) not in tampered.text
    _tamper(own)  # the served directory itself, which the service follows
    assert client.post("/v1/admin/reload").status_code == 422
    assert service.snapshot.generation == 0  # the model it started with keeps serving
    sign_artifact(root / "next", service.signing_key)  # an operator approves it
    assert client.post("/v1/admin/reload",
                       json={"model_dir": str(root / "next")}).json()["generation"] == 1


# ---------------------------------------------------------------- 7. bandit log
def test_bandit_log_is_bounded_and_written_only_for_keys(make_client, keys) -> None:
    client = make_client(bandit=True, bandit_candidates=10, served_log_rows=10)
    store = client.app.state.service.store
    for _ in range(20):
        assert client.get("/v1/recommendations/u2", params={"k": 4}).status_code == 401
    assert store.served_log().empty
    for _ in range(5):
        client.get("/v1/recommendations/u2", params={"k": 4}, headers=bearer(keys["read"]))
    assert len(store.served_log()) <= 10


def test_served_log_expires(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'e.db'}")
    store.log_served("old", "u1", ["i1", "i2"], [0.5, 0.5], now=1000.0)
    store.log_served("new", "u1", ["i3"], [0.5], now=1000.0 + 86_400 * 31, max_age_s=86_400 * 30)
    assert store.served_log()["request_id"].tolist() == ["new"]
    store.close()


# ---------------------------------------------------------------- 8. IDs at the boundary
@pytest.mark.parametrize("bad", ["\ud800", "a\x00b", "bell\x07", "line\nbreak"])
def test_unstorable_ids_are_422_never_500(make_client, keys, bad: str) -> None:
    client = make_client(key=keys["write"])
    body = json.dumps({"events": [{"user_id": bad, "item_id": "i1"}]})  # \ud800 stays escaped
    response = client.post("/v1/events", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "user_id" in response.json()["detail"], response.text
    item = json.dumps({"events": [{"user_id": "u1", "item_id": bad}]})
    assert client.post("/v1/events", content=item,
                       headers={"Content-Type": "application/json"}).status_code == 422
    assert client.app.state.service.store.count_events() == 0


def test_control_characters_in_paths_and_queries_are_422(make_client, keys) -> None:
    client = make_client(key=keys["read"])
    assert client.get("/v1/recommendations/a%00b").status_code == 422
    assert client.get("/v1/items/a%07b").status_code == 422
    assert client.post("/v1/search", json={"query": "x\x00"}).status_code == 422


# ---------------------------------------------------------------- 9. docs, page, ranges
def test_docs_closed_and_page_locked_down(make_client) -> None:
    client = make_client()
    for url in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(url).status_code == 404, url
    assert make_client(open_docs=True).get("/openapi.json").status_code == 200
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    script = re.search(r"<script>(.*?)</script>", page.text, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp  # the page's own code, nothing else


@pytest.mark.parametrize("event", [
    {"type": "rating", "value": 1e6}, {"type": "rating", "value": -1e6},
    {"type": "click", "value": 101.0}, {"timestamp": 99_999_999_999},  # the year 5138
])
def test_absurd_values_and_timestamps_are_422(make_client, keys, event: dict) -> None:
    client = make_client(key=keys["write"])
    body = {"events": [{"user_id": "u1", "item_id": "i1", **event}]}
    assert client.post("/v1/events", json=body).status_code == 422
    sane = {"events": [{"user_id": "u1", "item_id": "i1", "type": "rating", "value": 4.5,
                        "timestamp": 1_700_000_000}]}
    assert client.post("/v1/events", json=sane).status_code == 200

"""The HTTP API through FastAPI's test client: every route, auth, validation, online."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.serve.conftest import bearer
from trustrec.models import Recommender
from trustrec.serve.signing import sign_artifact


def _items(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["item_id"] for row in response.json()["items"]]


def test_event_changes_next_recommendations_without_retraining(make_client, keys) -> None:
    client = make_client(key=keys["read"])
    before = client.get("/v1/recommendations/newcomer", params={"k": 5})
    assert before.json()["source"] == "popular"
    # items i0..i9 form one taste block in the planted data: liking two of them must pull
    # the rest of the block up for a user the model has never seen
    batch = {"events": [{"user_id": "newcomer", "item_id": "i1", "type": "like"},
                        {"user_id": "newcomer", "item_id": "i2", "type": "click"}]}
    assert client.post("/v1/events", json=batch, headers=bearer(keys["write"])).status_code == 200
    after = client.get("/v1/recommendations/newcomer", params={"k": 5})
    body = after.json()
    assert body["source"] == "history" and body["online"] and body["events_used"] == 2
    listed = _items(after)
    assert listed != _items(before)
    assert {"i1", "i2"}.isdisjoint(listed)  # seen items excluded
    assert sum(int(i[1:]) < 10 for i in listed) >= 4


def test_known_user_without_events_gets_the_trained_list(make_client, keys,
                                                         model_dir: Path) -> None:
    client = make_client(key=keys["read"])
    model = Recommender.load(model_dir)
    want = model.recommend(model.user_index_.lookup(["u3"]), k=7).to_frame()["item_id"].tolist()
    response = client.get("/v1/recommendations/u3", params={"k": 7})
    assert _items(response) == want
    assert response.json()["source"] == "model"


def test_model_without_history_scoring_serves_its_trained_list_and_says_so(
        make_client, keys, tmp_path: Path) -> None:
    from tests.conftest import planted_frame
    from trustrec.data import Dataset
    from trustrec.models import create_model

    model = create_model("baseline").fit(Dataset.from_frame(planted_frame()))
    model.save(tmp_path / "baseline")
    client = make_client(key=keys["read"], model_dir=tmp_path / "baseline")
    trained = _items(client.get("/v1/recommendations/u4", params={"k": 5}))
    event = {"events": [{"user_id": "u4", "item_id": trained[0], "type": "dislike"}]}
    client.post("/v1/events", json=event, headers=bearer(keys["write"]))
    after = client.get("/v1/recommendations/u4", params={"k": 5})
    body = after.json()
    assert body["online"] is False and body["source"] == "trained"
    assert "cannot use new events" in body["note"]
    assert _items(after)[:4] == trained[1:]  # the trained list, minus the disliked item


def test_dislike_removes_an_item_for_good(make_client, keys) -> None:
    client = make_client(key=keys["read"])
    first = _items(client.get("/v1/recommendations/u0", params={"k": 3}))[0]
    event = {"events": [{"user_id": "u0", "item_id": first, "type": "dislike"}]}
    client.post("/v1/events", json=event, headers=bearer(keys["write"]))
    listed = _items(client.get("/v1/recommendations/u0",
                               params={"k": 40, "exclude_seen": "false"}))
    assert first not in listed


def test_repeated_idempotency_key_is_stored_once(make_client, keys) -> None:
    client = make_client()
    batch = {"events": [{"user_id": "u1", "item_id": "i3", "type": "click"}] * 3,
             "idempotency_key": "batch-1"}
    first = client.post("/v1/events", json=batch, headers=bearer(keys["write"])).json()
    again = client.post("/v1/events", json=batch, headers=bearer(keys["write"])).json()
    header = client.post("/v1/events", json={"events": batch["events"]},
                         headers={**bearer(keys["write"]), "Idempotency-Key": "batch-1"}).json()
    assert first == {"stored": 3, "duplicate": False, "batch_events": 3,
                     "idempotency_key": "batch-1"}
    assert again["duplicate"] and again["stored"] == 0 and header["duplicate"]
    assert client.app.state.service.store.count_events() == 3


def test_events_survive_a_restart(make_client, keys) -> None:
    first = make_client(key=keys["read"])
    event = {"events": [{"user_id": "later", "item_id": "i21", "type": "like"}]}
    first.post("/v1/events", json=event, headers=bearer(keys["write"]))
    listed = _items(first.get("/v1/recommendations/later"))
    first.app.state.service.close()
    second = make_client(key=keys["read"])  # same SQLite file, fresh process state
    assert _items(second.get("/v1/recommendations/later")) == listed
    assert second.app.state.service.store.count_events() == 1


@pytest.mark.parametrize(("route", "method", "role"), [
    ("/v1/events", "post", "write"),
    ("/v1/admin/reload", "post", "admin"),
    ("/v1/users/u5", "delete", "admin"),
])
def test_write_and_admin_routes_need_a_key_of_their_role(make_client, keys, route, method,
                                                         role) -> None:
    client = make_client()
    body = {"json": {"events": [{"user_id": "u1", "item_id": "i1"}]}} if method == "post" \
        else {}
    call = getattr(client, method)
    missing = call(route, **body)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert call(route, headers=bearer("trk_nope_wrong"), **body).status_code == 401
    weaker = {"write": "read", "admin": "write"}[role]
    assert call(route, headers=bearer(keys[weaker]), **body).status_code == 403


def test_reads_need_a_key_and_anonymous_reads_open_only_non_personal_routes(
        make_client, keys) -> None:
    closed = make_client()
    for url in ("/v1/recommendations/u1", "/v1/explain/u1/i3", "/v1/items/i3"):
        assert closed.get(url).status_code == 401, url
    assert closed.get("/v1/recommendations/u1",
                      headers={"X-API-Key": keys["read"]}).status_code == 200
    assert closed.get("/healthz").status_code == 200
    opened = make_client(anonymous_reads=True)
    assert opened.get("/v1/items/i3").status_code == 200
    for url in ("/v1/recommendations/u1", "/v1/explain/u1/i3"):  # personal: never anonymous
        assert opened.get(url).status_code == 401, url
    assert opened.post("/v1/search", json={"query": "q", "user_id": "u1"}).status_code == 401


def test_revoked_key_is_refused(make_client, keys) -> None:
    from trustrec.serve.security import revoke_key

    client = make_client(key_ttl=0)
    ok = client.get("/v1/recommendations/u1", headers=bearer(keys["read"]))
    assert ok.status_code == 200
    revoke_key(client.app.state.service.store, keys["read"].split("_")[1])
    assert client.get("/v1/recommendations/u1", headers=bearer(keys["read"])).status_code == 401


def test_rate_limit_answers_429_with_retry_after(make_client, keys) -> None:
    client = make_client(key=keys["read"], rate=0.5, burst=2)
    codes = [client.get("/v1/recommendations/u1").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.get("/v1/recommendations/u1")
    assert refused.json()["status"] == 429 and int(refused.headers["retry-after"]) >= 1


def test_guessing_keys_is_rate_limited_too(make_client) -> None:
    client = make_client(rate=0.5, burst=2)
    guesses = [client.get("/v1/recommendations/u1", headers=bearer(f"trk_x_{n}")).status_code
               for n in range(3)]
    assert guesses == [401, 401, 429]


@pytest.mark.parametrize(("request_args", "field"), [
    (("get", "/v1/recommendations/u1?k=1001"), "k"),
    (("get", "/v1/recommendations/u1?k=0"), "k"),
    (("post", "/v1/events", {"events": []}), "events"),
    (("post", "/v1/events", {"events": [{"user_id": "u" * 300, "item_id": "i1"}]}), "user_id"),
    (("post", "/v1/events", {"events": [{"user_id": "u1", "item_id": "i1", "type": "x"}]}),
     "type"),
])
def test_invalid_requests_get_422_problem_json(make_client, keys, request_args, field) -> None:
    client = make_client()
    method, url, *body = request_args
    response = getattr(client, method)(url, headers=bearer(keys["write"]),
                                       **({"json": body[0]} if body else {}))
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 422 and field in problem["detail"]
    assert "Traceback" not in response.text


def test_unknown_item_is_404_and_known_item_described(make_client, keys) -> None:
    client = make_client(key=keys["read"])
    assert client.get("/v1/items/nope").status_code == 404
    body = client.get("/v1/items/i3").json()
    assert body["item_id"] == "i3" and body["training_interactions"] > 0


def test_search_on_a_model_without_text_is_501(make_client, keys) -> None:
    response = make_client(key=keys["read"]).post("/v1/search",
                                                  json={"query": "space films", "k": 3})
    assert response.status_code == 501 and "search" in response.json()["detail"]


def test_missing_capability_is_501_and_crashes_are_500_without_trace(make_client, keys,
                                                                    monkeypatch) -> None:
    client = make_client(key=keys["read"])
    monkeypatch.setitem(sys.modules, "trustrec.explain", None)  # import now fails
    for url in ("/v1/explain/u1/i1", "/v1/recommendations/u1?explain=true"):
        response = client.get(url)
        assert response.status_code == 501 and "explanation" in response.json()["detail"]

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals")

    for path in ("user_scores", "cached_scores"):  # the thread path and the cached one
        monkeypatch.setattr(client.app.state.service.online, path, crash)
    response = client.get("/v1/recommendations/u1")
    assert response.status_code == 500 and response.json()["status"] == 500
    assert "secret" not in response.text and "Traceback" not in response.text


def test_explanations_for_one_item_and_for_a_list(make_client, keys) -> None:
    pytest.importorskip("trustrec.explain")
    client = make_client(key=keys["read"])
    one = client.get("/v1/explain/u1/i3")
    assert one.status_code == 200, one.text
    assert one.json()["explanation"]["text"]
    listed = client.get("/v1/recommendations/u1", params={"k": 3, "explain": "true"}).json()
    assert all(row["explanation"]["text"] for row in listed["items"])
    newcomer = client.get("/v1/recommendations/nobody", params={"k": 3, "explain": "true"})
    assert [row["explanation"] for row in newcomer.json()["items"]] == [None] * 3
    assert client.get("/v1/explain/nobody/i3").status_code == 404


def test_delete_user_erases_events_and_unlearns(make_client, keys, model_dir: Path,
                                                tmp_path: Path) -> None:
    own = tmp_path / "model"
    shutil.copytree(model_dir, own)
    client = make_client(model_dir=own)
    event = {"events": [{"user_id": "u7", "item_id": "i1", "type": "like"}]}
    client.post("/v1/events", json=event, headers=bearer(keys["write"]))
    response = client.delete("/v1/users/u7", headers=bearer(keys["admin"]))
    body = response.json()
    assert response.status_code == 200 and body["events_erased"] == 1, body
    assert client.app.state.service.store.user_events("u7").item_id.size == 0
    try:
        import trustrec.privacy.unlearning  # noqa: F401
    except ImportError:
        assert body["model"] == "unchanged"
        return
    assert body["model"] == "unlearned" and body["saved"]
    assert "u7" not in Recommender.load(own).user_index_  # a restart does not bring u7 back


def test_reload_swaps_the_model(make_client, keys, model_dir: Path, tmp_path: Path) -> None:
    from tests.conftest import planted_frame
    from trustrec.data import Dataset
    from trustrec.models import create_model

    other = tmp_path / "popular"
    create_model("popularity").fit(Dataset.from_frame(planted_frame(seed=5))).save(other)
    client = make_client(key=keys["read"], model_roots=(tmp_path,))
    sign_artifact(other, client.app.state.service.signing_key)  # approved for serving
    response = client.post("/v1/admin/reload", json={"model_dir": str(other)},
                           headers=bearer(keys["admin"]))
    assert response.status_code == 200 and response.json()["generation"] == 1
    assert client.get("/v1/recommendations/u1").json()["model"] == "popularity"
    broken = client.post("/v1/admin/reload", json={"model_dir": str(tmp_path / "none")},
                         headers=bearer(keys["admin"]))
    assert broken.status_code == 422  # the old model keeps serving
    assert client.get("/v1/recommendations/u1").json()["model"] == "popularity"


def test_every_worker_follows_a_model_rewritten_in_place(make_client, keys, model_dir: Path,
                                                         tmp_path: Path) -> None:
    from tests.conftest import planted_frame
    from trustrec.data import Dataset
    from trustrec.models import create_model

    own = tmp_path / "model"
    shutil.copytree(model_dir, own)
    client = make_client(key=keys["read"], model_dir=own)
    assert client.get("/v1/recommendations/u1").json()["model"] == "itemknn"
    create_model("popularity").fit(Dataset.from_frame(planted_frame())).save(own)
    sign_artifact(own, client.app.state.service.signing_key)  # approved for serving
    deadline = time.monotonic() + 15
    while client.get("/v1/recommendations/u1").json()["model"] != "popularity":
        assert time.monotonic() < deadline, "the service never picked up the new artifact"
        time.sleep(0.2)
    assert client.app.state.service.snapshot.generation == 1


def test_health_ready_metrics_and_page(make_client, keys) -> None:
    client = make_client(key=keys["read"], open_docs=True)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    client.get("/v1/recommendations/u1")
    metrics = client.get("/metrics").text
    assert 'trustrec_requests_total{method="GET",route="/v1/recommendations/{user_id}"' \
           ',status="200"} 1.0' in metrics
    assert 'trustrec_recommendation_lists_total{source="model"} 1.0' in metrics
    page = client.get("/")
    assert page.status_code == 200 and "/v1/recommendations/" in page.text
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/v1/recommendations/{user_id}", "/v1/events", "/v1/search", "/v1/items/{item_id}",
            "/v1/explain/{user_id}/{item_id}", "/v1/users/{user_id}", "/v1/admin/reload",
            "/healthz", "/readyz", "/metrics"} <= paths


def test_cors_closed_by_default_and_opened_by_setting(make_client) -> None:
    origin = {"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"}
    closed = make_client().options("/v1/recommendations/u1", headers=origin)
    assert "access-control-allow-origin" not in closed.headers
    opened = make_client(cors_origins=("https://shop.example",))
    response = opened.options("/v1/recommendations/u1", headers=origin)
    assert response.headers["access-control-allow-origin"] == "https://shop.example"

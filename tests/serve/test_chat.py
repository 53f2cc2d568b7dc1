"""``POST /v1/chat``: a request in words, grounded answers, validation."""

from __future__ import annotations

from tests.chat.test_chat import ScriptedChat
from trustrec.llm import settings as llm_settings


def test_chat_route_grounds_its_answer(make_client, keys, monkeypatch) -> None:
    def answer(titles):
        return f'Try "Galactic Pancake Wars". Or "{titles[1]}".'

    lm = ScriptedChat('{"keywords": "anything"}', answer)
    monkeypatch.setattr(llm_settings, "open_model", lambda settings=None: lm)
    assert make_client().post("/v1/chat", json={"message": "x"}).status_code == 401
    client = make_client(keys["read"])
    response = client.post("/v1/chat", json={"message": "surprise me", "user_id": "u3",
                                             "k": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["llm"] == "scripted-chat@1" and len(body["items"]) == 4
    assert body["answer"] == f'Or "{body["items"][1]["title"]}".'
    assert body["removed"] == ['Try "Galactic Pancake Wars".']
    trained = client.get("/v1/recommendations/u3", params={"k": 4}).json()["items"]
    assert [i["item_id"] for i in body["items"]] == [i["item_id"] for i in trained]


def test_chat_route_validates_its_body(make_client, keys, monkeypatch) -> None:
    monkeypatch.setattr(llm_settings, "open_model",
                        lambda settings=None: ScriptedChat("{}", lambda t: ""))
    client = make_client(keys["read"])
    assert client.post("/v1/chat", json={"message": ""}).status_code == 422
    assert client.post("/v1/chat", json={"message": "x", "k": 0}).status_code == 422
    assert client.post("/v1/chat", json={"message": "x", "extra": 1}).status_code == 422

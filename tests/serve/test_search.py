"""``POST /v1/search`` on a text model, through the service (loads the bundled encoder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.models.test_content import encoder, main_genre, text_data, text_model
from trustrec.data.synthetic import TOPICS
from trustrec.models.content import TextVectorModel


def test_search_finds_the_queried_topic(make_client, keys, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # the loaded model would load the encoder again: hand it the session's one
    monkeypatch.setattr(TextVectorModel, "text_encoder", lambda _self: encoder())
    data = text_data()
    model_dir = tmp_path / "content"
    text_model("content").fit(data).save(model_dir)
    client = make_client(key=keys["read"], model_dir=model_dir)
    topic = str(main_genre(data)[0])
    body = client.post("/v1/search", json={"query": " ".join(TOPICS[topic][:6]), "k": 3,
                                           "user_id": "nobody-known"}).json()
    assert body["personalised"] is False and len(body["items"]) == 3
    genres = data.items.set_index(data.items["item_id"].astype(str))["genres"]
    assert all(topic in genres[str(row["item_id"])] for row in body["items"])
    assert all(row["title"] for row in body["items"])
    assert client.post("/v1/search", json={"query": ""}).status_code == 422

"""Conversational recommendation: the request schema, the text-search fallback, the
constraints, and grounding that removes names outside the catalogue or the list."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustrec.chat import Catalogue, chat_recommend, constraint_rate, validate_request
from trustrec.chat.request import EXAMPLE_JSON, extract_json
from trustrec.data import Dataset, synthetic
from trustrec.errors import ConfigError
from trustrec.llm import LanguageModel
from trustrec.models import Recommender, create_model


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthetic.generate(n_users=60, n_items=50, density=0.2, seed=6, explicit=False)


@pytest.fixture(scope="module")
def model(data: Dataset) -> Recommender:
    return create_model("ease", {"l2": 30}).fit(data)


class ScriptedChat(LanguageModel):
    """Answers the request prompt with ``request`` and the answer prompt with
    ``answer(titles)`` (titles: the listed ones, parsed from the prompt)."""

    backend = "scripted"

    def __init__(self, request: str, answer) -> None:
        super().__init__(None)
        self.request, self.answer = request, answer

    @property
    def model_id(self) -> str:
        return "scripted-chat@1"

    def _chat(self, conversations, sampling):
        out = []
        for c in conversations:
            last = c[-1]["content"]
            if last.startswith("Request:"):
                listed = last.split("List: ", 1)[1].rsplit(". Introduce", 1)[0]
                out.append(self.answer([t.strip('"') for t in listed.split('", "')]))
            else:
                out.append(self.request)
        return out


def test_request_schema() -> None:
    ok = validate_request({"genres": ["Comedy"], "year_min": 1990, "like": ["Alien"]})
    assert ok.genres == ("Comedy",) and ok.year_min == 1990
    for bad, reason in (({"genre": ["Comedy"]}, "Additional properties"),
                        ({"year_min": 2001, "year_max": 1990}, "after year_max"),
                        ({"year_min": "nineties"}, "year_min"),
                        (json.loads(EXAMPLE_JSON), "copies the worked example")):
        with pytest.raises(ValueError, match=reason):
            validate_request(bad)
    assert extract_json('Sure! {"genres": ["Drama"]} Enjoy.') == {"genres": ["Drama"]}
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("I recommend Alien.")


def test_grounding_removes_a_non_catalogue_title_and_unlisted_items(model, data) -> None:
    catalogue = Catalogue.build(model, data.items)
    outsiders: list[str] = []

    def answer(titles):
        outsiders.append(next(str(t) for t in catalogue.titles if t not in titles))
        return (f'Try "Galactic Pancake Wars". You will like "{titles[0]}". '
                f"Or {outsiders[0]}, a classic.")

    lm = ScriptedChat('{"genres": ["Romance"]}', answer)
    reply = chat_recommend(model, lm, "romance please", k=5, catalogue=catalogue)
    listed = reply.items["title"].tolist()
    assert outsiders and outsiders[0] not in listed
    assert reply.answer == f'You will like "{listed[0]}".' and reply.answer_source == "llm"
    assert len(reply.removed) == 2 and "Galactic Pancake Wars" in reply.removed[0]
    assert reply.request is not None and reply.request.genres == ("Romance",)
    assert constraint_rate(catalogue, model.item_index_.lookup(reply.items["item_id"]),
                           reply.request) == 1.0


def test_invalid_request_falls_back_to_the_message(model, data) -> None:
    catalogue = Catalogue.build(model, data.items)
    seed = 7
    title = str(catalogue.titles[seed])
    lm = ScriptedChat("I think you would enjoy many films!", lambda titles: "Enjoy!")
    reply = chat_recommend(model, lm, f"something like {title}", k=5, catalogue=catalogue)
    assert reply.request is None and "no JSON" in reply.rejected
    assert reply.seeds == (title,)
    expected, _ = model.recommend_history([seed], k=5)
    np.testing.assert_array_equal(model.item_index_.lookup(reply.items["item_id"]), expected)
    assert reply.answer_source == "template"  # "Enjoy!" names no listed item


def test_exclusions_and_bad_messages(model, data) -> None:
    catalogue = Catalogue.build(model, data.items)
    user = data.user_index.ids[2]
    first = chat_recommend(model, ScriptedChat("{}", lambda t: ""), "anything", user_id=user,
                           k=3, catalogue=catalogue)
    banned = first.items["title"][0]
    lm = ScriptedChat(json.dumps({"exclude": [banned]}), lambda t: "")
    again = chat_recommend(model, lm, "anything", user_id=user, k=3, catalogue=catalogue)
    assert banned not in again.items["title"].tolist()
    seen = set(model.item_index_.to_external(model.seen_[2].indices))
    assert not seen & set(again.items["item_id"])
    with pytest.raises(ConfigError, match="message"):
        chat_recommend(model, lm, "  ", catalogue=catalogue)

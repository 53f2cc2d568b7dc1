"""Explanations in words: the faithfulness check catches made-up and uncredited items, the
template stands in for them, and the bundled model's sentences go through the same check."""

from __future__ import annotations

import numpy as np
import pytest

from trustrec.data import Dataset, synthetic
from trustrec.explain import ItemInfo, explain_external
from trustrec.explain.words import explain_in_words, faithfulness_rate
from trustrec.llm import LanguageModel
from trustrec.llm.grounding import TitleMatcher, degenerate, ground
from trustrec.models import Recommender, create_model


@pytest.fixture(scope="module")
def data() -> Dataset:
    return synthetic.generate(n_users=60, n_items=40, density=0.2, seed=5, explicit=False)


@pytest.fixture(scope="module")
def model(data: Dataset) -> Recommender:
    return create_model("ease", {"l2": 30}).fit(data)


class SayLM(LanguageModel):
    """Replies with a fixed sentence built from the prompt by ``make``."""

    backend = "say"

    def __init__(self, make) -> None:
        super().__init__(None)
        self.make = make

    @property
    def model_id(self) -> str:
        return "say@1"

    def _chat(self, conversations, sampling):
        return [self.make(c[-1]["content"]) for c in conversations]


def first_quoted(prompt: str, n: int) -> str:
    return prompt.split('"')[2 * n + 1]


def test_a_faithful_sentence_is_shown(model, data) -> None:
    lm = SayLM(lambda p: f'We suggest "{first_quoted(p, 0)}" because you liked '
                         f'"{first_quoted(p, 1)}".')
    user = data.user_index.ids[3]
    item = model.recommend([3], k=1).to_frame()["item_id"][0]
    (worded,) = explain_in_words(model, lm, [explain_external(model, user, item)])
    assert worded.faithful and worded.source == "llm" and worded.text == worded.generated


def test_faithfulness_check_catches_a_made_up_and_an_uncredited_item(model, data) -> None:
    info = ItemInfo.from_table(data.items, data.item_index)
    user = 3
    item = int(model.recommend([user], k=1).items[0, 0])
    seen = set(data.csr[user].indices)
    outsider = next(i for i in range(data.n_items) if i not in seen and i != item)
    made_up = SayLM(lambda p: 'You will love it, just like "Galactic Pancake Wars".')
    uncredited = SayLM(lambda p: f"Because you liked {info.titles[outsider]}.")
    uid, iid = data.user_index.ids[user], data.item_index.ids[item]
    for lm, field in ((made_up, "unknown"), (uncredited, "uncredited")):
        (worded,) = explain_in_words(model, lm, [explain_external(model, uid, iid, items=info)],
                                     items=info)
        assert not worded.faithful and worded.source == "template"
        assert worded.text == worded.explanation.text  # the template, never the claim
        assert getattr(worded, field)
    assert faithfulness_rate([]) != faithfulness_rate([])  # NaN for no sentences


def test_grounding_helpers() -> None:
    matcher = TitleMatcher(["Matrix, The (1999)", "Heat (1995)", "Alien (1979)"])
    found = matcher.mentions('Watch The Matrix or "Alien"; the heat is on. Also "Blob 7".')
    assert found.items == (0, 2) and found.unknown == ("Blob 7",)
    grounded = ground("Try Alien. Or Heat. Or \"Blob 7\".", allowed=[2], matcher=matcher)
    assert grounded.text == "Try Alien." and len(grounded.removed) == 2
    assert degenerate("a b c a b c a b c a b c") and not degenerate("Try Alien tonight.")


def test_the_bundled_model_is_checked_like_any_other(bundled_lm, model, data) -> None:
    user = data.user_index.ids[7]
    items = model.recommend([7], k=2).to_frame()["item_id"].tolist()
    worded = explain_in_words(model, bundled_lm, [explain_external(model, user, i)
                                                  for i in items])
    assert len(worded) == 2
    for w in worded:
        assert w.text == (w.generated if w.source == "llm" else w.explanation.text)
        assert w.faithful == (not w.uncredited and not w.unknown)
    assert np.isfinite(faithfulness_rate(worded))

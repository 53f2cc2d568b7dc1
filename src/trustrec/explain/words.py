"""Explanations in words: a language model turns the exact item credits of an
:class:`~trustrec.explain.Explanation` into one sentence, and a faithfulness check decides
whether that sentence may be shown.

The sentence is *faithful* when every catalogue item it names is among the explanation's
credited items (or the recommended item itself) and it names no made-up title
(:mod:`trustrec.llm.grounding`). An unfaithful, looping or empty sentence is replaced by
the explanation's own template text, so what a user reads never credits an item the model
did not credit; ``WordedExplanation.faithful`` records how the model's sentence fared
(counted by ``benchmarks/llm.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trustrec.explain.explanation import Explanation
from trustrec.explain.items import ItemInfo
from trustrec.llm.base import LanguageModel
from trustrec.llm.grounding import TitleMatcher, degenerate
from trustrec.models.base import Recommender

#: Length cap of the generated sentence.
MAX_TOKENS = 48
SYSTEM = ("You explain recommendations to a user in one short, friendly sentence. Mention "
          "only the titles you are given, in double quotes.")


@dataclass(frozen=True)
class WordedExplanation:
    """``text`` (the sentence shown), ``source`` ('llm' or 'template'), whether the model's
    sentence was ``faithful`` (names only credited items; a faithful but looping sentence is
    not shown either), what it said (``generated``), the items it named that are not
    credited (``uncredited``, titles) and made-up titles (``unknown``), and the underlying
    ``explanation``."""

    text: str
    source: str
    faithful: bool
    generated: str
    uncredited: tuple[str, ...]
    unknown: tuple[str, ...]
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"text": self.text, "source": self.source, "faithful": self.faithful,
                "generated": self.generated, "uncredited": list(self.uncredited),
                "unknown": list(self.unknown), "explanation": self.explanation.to_dict()}


def words_prompt(explanation: Explanation, title: str) -> list[dict[str, str]]:
    """The conversation asking for the sentence: the recommended title and the credits."""
    items = [f'"{r["title"]}"' for r in explanation.reasons if r["type"] == "item"]
    features = [str(r["title"]) for r in explanation.reasons if r["type"] in ("genre", "word")]
    facts = [f'Recommended: "{title}".']
    if items:
        facts.append("Because the user liked " + ", ".join(items) + ".")
    if features:
        facts.append("They share: " + ", ".join(features) + ".")
    if not items and not features:
        facts.append(explanation.text + ".")
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": " ".join(facts) + " Write the sentence."}]


def check_faithful(sentence: str, credited: set[int], matcher: TitleMatcher) -> tuple[
        tuple[int, ...], tuple[str, ...]]:
    """``(uncredited item indices named, made-up titles named)`` in ``sentence``; both empty
    means faithful."""
    found = matcher.mentions(sentence)
    return tuple(i for i in found.items if i not in credited), found.unknown


def explain_in_words(model: Recommender, lm: LanguageModel, explanations: list[Explanation],
                     *, items: ItemInfo | pd.DataFrame | None = None,
                     matcher: TitleMatcher | None = None) -> list[WordedExplanation]:
    """Worded forms of ``explanations`` of ``model``'s recommendations (one batched
    generation); ``items``: the item table or :class:`ItemInfo` they were made with."""
    info = items if isinstance(items, ItemInfo) else (
        ItemInfo.from_model(model) if items is None
        else ItemInfo.from_table(items, model.item_index_))
    matcher = matcher or TitleMatcher(list(info.titles))
    targets = [int(model.item_index_.lookup([e.item_id], what="item")[0]) for e in explanations]
    prompts = [words_prompt(e, str(info.titles[t])) for e, t in zip(explanations, targets,
                                                                    strict=True)]
    replies = lm.chat(prompts, max_new_tokens=MAX_TOKENS, stop=["\n"])
    out = []
    for e, target, reply in zip(explanations, targets, replies, strict=True):
        sentence = reply.strip()
        ids = [r["item_id"] for r in e.reasons if r["type"] == "item"]
        credited = {target, *(int(i) for i in model.item_index_.lookup(ids, what="item"))} \
            if ids else {target}
        uncredited, unknown = check_faithful(sentence, credited, matcher)
        faithful = not uncredited and not unknown
        shown = faithful and not degenerate(sentence)
        out.append(WordedExplanation(
            text=sentence if shown else e.text, source="llm" if shown else "template",
            faithful=faithful, generated=sentence,
            uncredited=tuple(str(info.titles[i]) for i in uncredited), unknown=unknown,
            explanation=e))
    return out


def faithfulness_rate(worded: list[WordedExplanation]) -> float:
    """Share of the model's sentences that passed the faithfulness check (NaN for none)."""
    return float(np.mean([w.faithful for w in worded])) if worded else float("nan")

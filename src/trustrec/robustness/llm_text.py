"""LLM item-text rewriting: a language model rewrites a target item's text to climb for an
audience, with black-box queries to the victim's ranking and a query budget.

Per target: the text the victim reads (``column`` of the item table) is handed to the
language model with the titles the audience likes most, asking for a rewrite that makes
those fans want the item; each rewrite is *published* and the victim is *queried* (its
mean rank of the target over ``audience`` users — the black-box score access an attacker
has by watching the service with a few accounts); the best rewrite so far is the seed of
the next round. Every query counts against ``budget``. Reported per target: rank and HR@10
before and after, semantic drift (cosine of the text encoder's vectors of the original
and the rewrite), fluency (per-word perplexity under the language model, original beside
rewrite) and edit size (words inserted, deleted or replaced).

Defence: :func:`drift_alarm` compares every item's text with the previous catalogue
version's and flags a cosine below a threshold; flagged items get their previous text
back (:func:`~trustrec.robustness.text_attack.quarantine`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustrec.data.dataset import Dataset
from trustrec.errors import ConfigError
from trustrec.llm.base import LanguageModel
from trustrec.llm.grounding import degenerate
from trustrec.robustness.text_attack import replace_texts

#: A victim query: the dataset as published (rewritten texts) → (mean rank, HR@10) of the
#: target over the attacker's audience.
Query = Callable[[Dataset, int], tuple[float, float]]

_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def rewrite_prompt(text: str, liked: list[str], noun: str = "movie") -> list[dict[str, str]]:
    """The conversation that asks for one rewrite of ``text`` aimed at fans of ``liked``."""
    fans = "; ".join(liked[:5])
    return [{"role": "system", "content": f"You write short catalogue entries for {noun}s."},
            {"role": "user", "content": f"Rewrite this catalogue entry so that fans of {fans} "
                                        f"want to watch it. Keep it about the same {noun}, one "
                                        f"or two sentences. Entry: {text}"}]


def clean_rewrite(reply: str, max_sentences: int = 2) -> str | None:
    """The first ``max_sentences`` sentences of a reply, quotes trimmed; None when it is
    empty or loops."""
    text = reply.strip().strip('"').strip()
    text = " ".join(_SENTENCES.split(text)[:max_sentences]).strip()
    return None if not text or degenerate(text) else text


def edit_words(a: str, b: str) -> int:
    """Word-level edit size between ``a`` and ``b``: words inserted, deleted or replaced."""
    ops = difflib.SequenceMatcher(a=a.split(), b=b.split(), autojunk=False).get_opcodes()
    return int(sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal"))


def perplexity(lm: LanguageModel, texts: list[str], noun: str = "movie") -> np.ndarray:
    """Per-word perplexity of each text under ``lm`` after ``A <noun> description:``."""
    prompt = f"A {noun} description:"
    lp = lm.logprob(prompt, [" " + t for t in texts])
    words = np.array([max(1, len(t.split())) for t in texts], dtype=np.float64)
    return np.exp(-lp / words)


def drift_alarm(encoder: Any, before: list[str], after: list[str],
                threshold: float = 0.9) -> np.ndarray:
    """Boolean flags: items whose text changed between catalogue versions with a cosine
    between the two versions' vectors below ``threshold`` (unchanged texts never flag)."""
    if len(before) != len(after):
        raise ConfigError(f"drift_alarm: {len(before)} texts before, {len(after)} after")
    flags = np.zeros(len(before), bool)
    changed = np.flatnonzero([a != b for a, b in zip(before, after, strict=True)])
    if len(changed):
        x = np.asarray(encoder.encode([before[i] for i in changed]), np.float64)
        y = np.asarray(encoder.encode([after[i] for i in changed]), np.float64)
        cos = (x * y).sum(1) / np.maximum(np.linalg.norm(x, axis=1) *
                                          np.linalg.norm(y, axis=1), 1e-12)
        flags[changed] = cos < threshold
    return flags


@dataclass(frozen=True)
class LLMRewrite:
    """One target's best rewrite and what it did (module docstring)."""

    item: int
    original: str
    rewritten: str
    queries: int
    rank_before: float
    rank_after: float
    hr10_before: float
    hr10_after: float
    drift: float
    perplexity_before: float
    perplexity_after: float
    edit_words: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def _cosine(encoder: Any, a: str, b: str) -> float:
    x, y = np.asarray(encoder.encode([a, b]), np.float64)
    return float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))


def llm_rewrite_attack(lm: LanguageModel, query: Query, dataset: Dataset,
                       targets: np.ndarray, liked: list[str], encoder: Any,
                       column: str = "title", budget: int = 8, per_round: int = 2,
                       max_new_tokens: int = 48, noun: str = "movie",
                       seed: int = 0) -> tuple[Dataset, list[LLMRewrite]]:
    """Rewrite each target's ``column`` text with ``lm`` (module docstring): rounds of
    ``per_round`` sampled rewrites of the best text so far, each published and scored by
    one ``query``, until ``budget`` queries (the first measures the original) are spent.
    ``liked``: titles the audience likes most. Returns the dataset with the best rewrites
    and one :class:`LLMRewrite` per target. Deterministic for a ``seed``."""
    if budget < 2 or per_round < 1:
        raise ConfigError(f"llm rewrite: budget must be ≥ 2 and per_round ≥ 1, got {budget}, "
                          f"{per_round}")
    if dataset.items is None or column not in dataset.items:
        raise ConfigError(f"llm rewrite: the item table has no column {column!r}")
    current = dataset
    out = []
    for target in np.atleast_1d(targets).astype(int):
        original = str(dataset.items[column].iloc[target])
        rank0, hr0 = query(current, target)
        best, best_rank, best_hr, used, calls = original, rank0, hr0, 1, 0
        while used < budget:
            convs = [rewrite_prompt(best, liked, noun)] * min(per_round, budget - used)
            replies = [lm.chat([c], max_new_tokens=max_new_tokens, temperature=0.9,
                               seed=seed * 100_003 + int(target) * 1009 + calls + j)[0]
                       for j, c in enumerate(convs)]
            calls += len(convs)
            texts = [t for t in map(clean_rewrite, replies) if t and t != best]
            if not texts and calls >= 4 * budget:  # the model keeps failing: give up
                break
            for text in texts[:budget - used]:
                rank, hr = query(replace_texts(current, {int(target): text}, column), target)
                used += 1
                if rank < best_rank:
                    best, best_rank, best_hr = text, rank, hr
        current = replace_texts(current, {int(target): best}, column)
        ppl = perplexity(lm, [original, best], noun)
        out.append(LLMRewrite(int(target), original, best, used, rank0, best_rank, hr0, best_hr,
                              _cosine(encoder, original, best), float(ppl[0]), float(ppl[1]),
                              edit_words(original, best)))
    return current, out

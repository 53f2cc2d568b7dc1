"""Checks on generated text: which catalogue items it names, which titles it makes up, and
whether it degenerated — the guards that let a small model's words be used at all.

* :class:`TitleMatcher` finds catalogue titles in a text (MovieLens forms such as
  ``"Matrix, The (1999)"`` match "The Matrix" and "Matrix"); a match must start with a
  capital letter or sit inside quotes, so "heat" in a sentence is not the film *Heat*.
* Quoted spans (``"…"``, ``“…”``) that match no catalogue title are made-up names.
* :func:`ground` drops every sentence that names an item outside an allowed set or a
  made-up title; :func:`degenerate` flags looping or copied-out text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_YEAR_OR_ALIAS = re.compile(r"\s*\([^)]*\)")
_ARTICLE_AT_END = re.compile(r"^(?P<rest>.+), (?P<article>the|a|an|les|la|le|l'|il|el|das|der"
                             r"|die)$", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,80})[\"“”«»]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
#: Longest title, in words, that is looked for.
MAX_TITLE_WORDS = 12
_ARTICLES = {"the", "a", "an"}


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def title_keys(title: str) -> set[str]:
    """Normalised forms under which ``title`` may be mentioned (lowercase words)."""
    base = _YEAR_OR_ALIAS.sub("", title).strip()
    forms = {base}
    moved = _ARTICLE_AT_END.match(base)
    if moved:
        forms.add(f"{moved['article']} {moved['rest']}")
        forms.add(moved["rest"])
    keys = set()
    for form in forms:
        words = _words(form)
        if words:
            keys.add(" ".join(words))
            if len(words) > 1 and words[0] in _ARTICLES:
                keys.add(" ".join(words[1:]))
    return keys


@dataclass(frozen=True)
class Mentions:
    """Items a text names (``items``, indices in order of appearance) and quoted names that
    are no catalogue title (``unknown``)."""

    items: tuple[int, ...]
    unknown: tuple[str, ...]


class TitleMatcher:
    """Finds the catalogue's titles (``titles[i]`` is item index ``i``) in texts."""

    def __init__(self, titles: Sequence[str]) -> None:
        self.titles = [str(t) for t in titles]
        self._index: dict[str, int] = {}
        for i, title in enumerate(self.titles):
            for key in title_keys(title):
                self._index.setdefault(key, i)
        self._longest = min(MAX_TITLE_WORDS, max((k.count(" ") + 1 for k in self._index),
                                                 default=1))

    def lookup(self, name: str) -> int | None:
        """The item index a name refers to (exact normalised match), else None."""
        for key in title_keys(name):
            if key in self._index:
                return self._index[key]
        return None

    def mentions(self, text: str) -> Mentions:
        """Catalogue items named in ``text`` and made-up quoted titles."""
        quoted_spans = [(m.start(1), m.end(1)) for m in _QUOTED.finditer(text)]
        tokens = [(m.group(0), m.start()) for m in _WORD.finditer(text)]
        lower = [t.lower() for t, _ in tokens]
        found: list[int] = []
        start = 0
        while start < len(tokens):
            for width in range(min(self._longest, len(tokens) - start), 0, -1):
                item = self._index.get(" ".join(lower[start:start + width]))
                if item is None:
                    continue
                word, offset = tokens[start]
                inside = any(a <= offset < b for a, b in quoted_spans)
                if word[0].isupper() or inside:
                    found.append(item)
                    start += width - 1
                    break
            start += 1
        unknown = tuple(span for span in (text[a:b] for a, b in quoted_spans)
                        if self.lookup(span) is None)
        return Mentions(tuple(dict.fromkeys(found)), unknown)


@dataclass(frozen=True)
class Grounded:
    """``text`` with offending sentences removed; ``removed`` lists those sentences."""

    text: str
    removed: tuple[str, ...]


def ground(text: str, allowed: Iterable[int], matcher: TitleMatcher) -> Grounded:
    """Keep only the sentences of ``text`` that name no item outside ``allowed`` and no
    made-up (quoted, non-catalogue) title."""
    allowed = set(int(i) for i in allowed)
    kept, removed = [], []
    for sentence in (s.strip() for s in _SENTENCE.split(text.strip())):
        if not sentence:
            continue
        found = matcher.mentions(sentence)
        if found.unknown or not set(found.items) <= allowed:
            removed.append(sentence)
        else:
            kept.append(sentence)
    return Grounded(" ".join(kept), tuple(removed))


def degenerate(text: str, max_repeats: int = 2) -> bool:
    """Whether ``text`` is empty, or repeats a three-word sequence more than
    ``max_repeats`` times (the loop small models fall into)."""
    words = _words(text)
    if not words:
        return True
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 2):
        gram = tuple(words[i:i + 3])
        counts[gram] = counts.get(gram, 0) + 1
        if counts[gram] > max_repeats:
            return True
    return False

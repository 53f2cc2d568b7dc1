"""Conversational recommendation: a message in words → a structured request → a list from
the model's own search / history path → a short answer that names only listed items.

1. The language model turns the message into a :class:`~trustrec.chat.request.ChatRequest`
   (validated against its schema). If its reply does not validate, the message itself is
   the query (plain text search) and the titles it names are the seeds.
2. Candidates: text models (``hybrid``, ``content``, ``linear``) score every item by
   natural-language search for the keywords, genres and liked titles, personalised for a
   known user; models that recommend from a given history add their scores for the seed
   items; other models fall back to the user's own scores (popularity for a newcomer).
   Scores are standardised and summed, then the request's constraints filter the list:
   genres (any of), excluded genres, the year range, excluded and seed titles, and the
   user's training items.
3. The answer: the language model introduces the list; every sentence naming an item that
   is not in the list, or a title not in the catalogue, is removed
   (:func:`~trustrec.llm.grounding.ground`); if what is left names no listed item or
   loops, a template answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from trustrec.chat.request import ChatRequest, parse_requests
from trustrec.errors import ConfigError, ModelError
from trustrec.explain.items import ItemInfo
from trustrec.llm.base import LanguageModel
from trustrec.llm.grounding import TitleMatcher, degenerate, ground
from trustrec.models.base import Recommender
from trustrec.models.content import TextVectorModel
from trustrec.models.llm_rerank import standardise
from trustrec.models.search import search_scores
from trustrec.models.topk import top_k

_YEAR = re.compile(r"\((\d{4})\)\s*$")
MAX_ANSWER_TOKENS = 64
#: Longest message accepted.
MAX_MESSAGE = 1000
ANSWER_SYSTEM = ("You recommend {noun}s in one or two short sentences. Name only titles from "
                 "the list you are given, in double quotes.")


@dataclass(frozen=True)
class Catalogue:
    """What chat knows about the items: titles, genres (0/1 CSR with ``genre_names``),
    release years (NaN where unknown) and a title matcher. Build once per model."""

    titles: np.ndarray
    genres: sp.csr_matrix
    genre_names: list[str]
    years: np.ndarray
    matcher: TitleMatcher

    @classmethod
    def build(cls, model: Recommender, items: pd.DataFrame | None = None) -> Catalogue:
        """From an item table (``title``, ``genres``, optional ``year``) or the model."""
        info = ItemInfo.from_model(model) if items is None else \
            ItemInfo.from_table(items, model.item_index_)
        years = np.array([float(m.group(1)) if (m := _YEAR.search(t)) else np.nan
                          for t in info.titles])
        if items is not None and "year" in items.columns:
            pos, known = model.item_index_.lookup_known(items["item_id"].to_numpy())
            given = pd.to_numeric(items["year"], errors="coerce").to_numpy(np.float64)
            years[pos[known]] = np.where(np.isnan(given[known]), years[pos[known]],
                                         given[known])
        return cls(info.titles, info.genres, list(info.genre_names), years,
                   TitleMatcher(list(info.titles)))

    def genre_columns(self, names: tuple[str, ...]) -> list[int]:
        """Columns of the named genres (case-insensitive; unknown names are ignored)."""
        lower = {g.lower(): j for j, g in enumerate(self.genre_names)}
        return [lower[n.strip().lower()] for n in names if n.strip().lower() in lower]

    def allowed(self, request: ChatRequest | None) -> np.ndarray:
        """Items meeting the request's genre and year constraints (bool, n_items)."""
        ok = np.ones(len(self.titles), dtype=bool)
        if request is None:
            return ok
        wanted = self.genre_columns(request.genres)
        if wanted:
            ok &= np.asarray(self.genres[:, wanted].sum(axis=1)).ravel() > 0
        banned = self.genre_columns(request.exclude_genres)
        if banned:
            ok &= np.asarray(self.genres[:, banned].sum(axis=1)).ravel() == 0
        if request.year_min is not None:
            ok &= self.years >= request.year_min
        if request.year_max is not None:
            ok &= self.years <= request.year_max
        return ok


@dataclass(frozen=True)
class ChatAnswer:
    """The reply to one message: the structured ``request`` (None when the model's reply
    was ``rejected``, with the reason), the recommended ``items`` (item_id, title, rank,
    score), the ``answer`` text and its ``answer_source`` ('llm' or 'template'), and the
    sentences grounding ``removed`` from the model's raw ``reply``."""

    message: str
    request: ChatRequest | None
    rejected: str | None
    seeds: tuple[str, ...]
    items: pd.DataFrame
    answer: str
    answer_source: str
    removed: tuple[str, ...]
    reply: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"message": self.message,
                "request": None if self.request is None else self.request.to_dict(),
                "request_rejected": self.rejected, "seeds": list(self.seeds),
                "items": [{"item_id": r.item_id.item() if isinstance(r.item_id, np.generic)
                           else r.item_id, "title": str(r.title), "rank": int(r.rank),
                           "score": float(r.score)} for r in self.items.itertuples()],
                "answer": self.answer, "answer_source": self.answer_source,
                "removed": list(self.removed)}


def _scores(model: Recommender, query: str, user: int | None, seeds: list[int]) -> np.ndarray:
    parts = []
    if isinstance(model, TextVectorModel) and query.strip():
        parts.append(search_scores(model, query, user))
    if seeds:
        try:
            parts.append(model.score_history(np.array(seeds)))
        except ModelError:
            pass  # this model cannot score a given history
    if not parts:
        parts.append(model.score([user])[0] if user is not None else model.item_popularity_)
    return standardise(np.vstack(parts)).sum(axis=0)


def _answer_prompt(message: str, titles: list[str], noun: str) -> list[dict[str, str]]:
    listed = ", ".join(f'"{t}"' for t in titles[:5])
    return [{"role": "system", "content": ANSWER_SYSTEM.format(noun=noun)},
            {"role": "user", "content": f'Request: "{message}". List: {listed}. '
                                        "Introduce the first few."}]


def _grounded_answer(reply: str | None, titles: list[str], allowed: np.ndarray,
                     catalogue: Catalogue, noun: str) -> tuple[str, str, tuple[str, ...]]:
    """``(answer, source, removed sentences)`` from the model's ``reply`` (None: no list)."""
    if reply is None:
        return ("Nothing in the catalogue meets that request; try fewer constraints.",
                "template", ())
    grounded = ground(reply, allowed, catalogue.matcher)
    names_one = bool(catalogue.matcher.mentions(grounded.text).items)
    if names_one and not degenerate(grounded.text):
        return grounded.text, "llm", grounded.removed
    template = f"Here are {len(titles)} {noun}s for that: " + ", ".join(titles[:3]) + \
        (", …" if len(titles) > 3 else "") + "."
    return template, "template", grounded.removed


def _ranked(model: Recommender, catalogue: Catalogue, message: str, user: int | None,
            request: ChatRequest | None, k: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``(items, scores, seeds)`` for one message (see the module docstring)."""
    match = catalogue.matcher
    if request is not None:
        seeds = [i for i in (match.lookup(t) for t in request.like) if i is not None]
        query = " ".join([request.keywords, *request.genres, *request.like]).strip() or message
        banned = [i for i in (match.lookup(t) for t in request.exclude) if i is not None]
    else:  # plain text search on the message; the titles it names are the seeds
        seeds, query, banned = list(match.mentions(message).items), message, []
    scores = _scores(model, query, user, seeds)[None, :].astype(np.float32)
    keep = catalogue.allowed(request)
    keep[seeds + banned] = False
    if user is not None:
        keep[model.seen_[user].indices] = False
    scores[0, ~keep] = -np.inf
    items, top = top_k(scores, k)
    found = items[0] != -1
    return items[0, found], top[0, found], seeds


def chat_recommend_many(model: Recommender, lm: LanguageModel, messages: list[str],
                        user_ids: list[object | None] | None = None, k: int = 10,
                        catalogue: Catalogue | None = None,
                        noun: str = "movie") -> list[ChatAnswer]:
    """Answer each of ``messages`` (for ``user_ids[i]`` when the model knows it) with up to
    ``k`` items; the language model runs twice, batched over all messages."""
    for message in messages:
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
            raise ConfigError(f"chat: the message must be 1–{MAX_MESSAGE} characters of text")
    if k < 1:
        raise ConfigError(f"chat: k must be ≥ 1, got {k}")
    model._check_fitted()
    catalogue = catalogue or Catalogue.build(model)
    user_ids = list(user_ids) if user_ids is not None else [None] * len(messages)
    parsed = parse_requests(lm, messages, noun)
    ranked = []
    for message, user_id, (request, _, _) in zip(messages, user_ids, parsed, strict=True):
        user = int(model.user_index_.lookup([user_id], what="user")[0]) \
            if user_id is not None and user_id in model.user_index_ else None
        ranked.append(_ranked(model, catalogue, message, user, request, k))
    titles = [[str(t) for t in catalogue.titles[items]] for items, _, _ in ranked]
    asks = [i for i, t in enumerate(titles) if t]
    replies = dict(zip(asks, lm.chat([_answer_prompt(messages[i], titles[i], noun)
                                      for i in asks], max_new_tokens=MAX_ANSWER_TOKENS,
                                     stop=["\n\n"]), strict=True))
    out = []
    for i, (message, (request, _, rejected)) in enumerate(zip(messages, parsed, strict=True)):
        items, top, seeds = ranked[i]
        answer, source, removed = _grounded_answer(replies.get(i), titles[i], items,
                                                   catalogue, noun)
        frame = pd.DataFrame({"item_id": model.item_index_.to_external(items),
                              "title": titles[i], "rank": np.arange(1, len(items) + 1),
                              "score": top})
        out.append(ChatAnswer(message, request, rejected,
                              tuple(str(catalogue.titles[s]) for s in seeds), frame, answer,
                              source, removed, replies.get(i, "")))
    return out


def chat_recommend(model: Recommender, lm: LanguageModel, message: str,
                   user_id: object | None = None, k: int = 10,
                   catalogue: Catalogue | None = None, noun: str = "movie") -> ChatAnswer:
    """Answer ``message`` with up to ``k`` items (for ``user_id`` when the model knows it)."""
    return chat_recommend_many(model, lm, [message], [user_id], k, catalogue, noun)[0]


def constraint_rate(catalogue: Catalogue, items: np.ndarray, request: ChatRequest) -> float:
    """Share of ``items`` (indices) that meet ``request``'s genre and year constraints."""
    if not len(items):
        return float("nan")
    return float(catalogue.allowed(request)[np.asarray(items)].mean())

"""The structured request a chat message becomes: a JSON object validated against
:data:`REQUEST_SCHEMA` (genres, years, seed items, exclusions, keywords).

The language model is asked for that JSON with one worked example; its reply is accepted
only if it holds a JSON object that validates. Anything else — prose, broken JSON, extra
keys, a year range backwards, a copy of the worked example (what small models do) — is
rejected (:func:`parse_request` returns the reason), and
the caller falls back to plain text search on the message.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from trustrec.llm.base import LanguageModel

_TEXTS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200},
          "maxItems": 8}
_YEAR = {"type": ["integer", "null"], "minimum": 1800, "maximum": 2100}
#: JSON schema of a structured request; every key is optional, no other key is allowed.
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"genres": _TEXTS, "exclude_genres": _TEXTS, "like": _TEXTS,
                   "exclude": _TEXTS, "year_min": _YEAR, "year_max": _YEAR,
                   "keywords": {"type": "string", "maxLength": 300}},
}
MAX_TOKENS = 80
SYSTEM = ("Turn the user's request for {noun}s into JSON with the keys genres, "
          "exclude_genres, like (titles they mention liking), exclude (titles to avoid), "
          "year_min, year_max and keywords. Reply with the JSON object only.")
EXAMPLE_ASK = "a funny space adventure from the 80s like Spaceballs, but no horror"
EXAMPLE_JSON = ('{"genres": ["Comedy", "Sci-Fi"], "exclude_genres": ["Horror"], '
                '"like": ["Spaceballs"], "exclude": [], "year_min": 1980, "year_max": 1989, '
                '"keywords": "space adventure"}')


@dataclass(frozen=True)
class ChatRequest:
    """What the user asked for, structured (all fields optional)."""

    genres: tuple[str, ...] = ()
    exclude_genres: tuple[str, ...] = ()
    like: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    keywords: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def validate_request(value: Any) -> ChatRequest:
    """A :class:`ChatRequest` from a decoded JSON value; ``ValueError`` naming the first
    schema violation otherwise."""
    import jsonschema

    try:
        jsonschema.validate(value, REQUEST_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(f"request field {where}: {exc.message}") from None
    year_min, year_max = value.get("year_min"), value.get("year_max")
    if year_min is not None and year_max is not None and year_min > year_max:
        raise ValueError(f"request: year_min {year_min} is after year_max {year_max}")
    request = ChatRequest(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in value.items()})
    copied = [k for k, v in _EXAMPLE.to_dict().items() if v and request.to_dict()[k] == v]
    if len(copied) >= 2:
        raise ValueError(f"request copies the worked example ({', '.join(copied)})")
    return request


_EXAMPLE = ChatRequest(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in json.loads(EXAMPLE_JSON).items()})


def extract_json(text: str) -> Any:
    """The first JSON value that starts at a ``{`` in ``text`` (``ValueError`` if none)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start >= 0:
        try:
            return decoder.raw_decode(text, start)[0]
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    raise ValueError("the reply holds no JSON object")


def request_messages(message: str, noun: str = "movie") -> list[dict[str, str]]:
    """The conversation that asks the model for the structured request."""
    return [{"role": "system", "content": SYSTEM.format(noun=noun)},
            {"role": "user", "content": EXAMPLE_ASK},
            {"role": "assistant", "content": EXAMPLE_JSON},
            {"role": "user", "content": message}]


def parse_requests(lm: LanguageModel, messages: list[str], noun: str = "movie") -> list[
        tuple[ChatRequest | None, str, str | None]]:
    """Per message ``(request or None, the model's reply, why it was rejected or None)``,
    from one batched generation."""
    replies = lm.chat([request_messages(m, noun) for m in messages], max_new_tokens=MAX_TOKENS)
    out: list[tuple[ChatRequest | None, str, str | None]] = []
    for reply in replies:
        try:
            out.append((validate_request(extract_json(reply)), reply, None))
        except ValueError as exc:
            out.append((None, reply, str(exc)))
    return out

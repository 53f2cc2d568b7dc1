"""Request bodies and path parameters of the HTTP API, with the bounds the service enforces.

IDs are checked at the boundary: text of 1–256 Unicode scalar values without control
characters (no NUL, no lone surrogate — what no database or JSON encoder can keep), so a bad
ID is a 422 naming the field, never a 500. Values and timestamps have sane ranges.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Annotated, Literal

from fastapi import Path as PathParam
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from trustrec.serve.store import MAX_ID_LENGTH

#: Most events one ``POST /v1/events`` may carry.
MAX_BATCH = 10_000
#: Longest list one request may ask for.
MAX_K = 1000
#: Longest search query.
MAX_QUERY = 1000
#: Largest absolute event value (a rating, or the weight of another event).
MAX_VALUE = 100.0
#: How far in the future (seconds) an event's timestamp may lie: clock skew, not years.
MAX_CLOCK_SKEW = 86_400


def _id_text(value: object) -> object:
    """IDs arrive as strings or integers; the service keeps them as strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def printable_text(value: str) -> str:
    """``value`` if it has no control character (NUL included) and no lone surrogate."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError("must not contain control characters or lone surrogates")
    return value


ExternalId = Annotated[str, BeforeValidator(_id_text),
                       Field(min_length=1, max_length=MAX_ID_LENGTH),
                       AfterValidator(printable_text)]
#: A user or item ID in a URL path, checked like :data:`ExternalId`.
IdPath = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_LENGTH),
                   AfterValidator(printable_text)]


class EventIn(BaseModel):
    """One interaction: ``value`` is the rating for ``type='rating'``, else a weight."""

    model_config = ConfigDict(extra="forbid")

    user_id: ExternalId
    item_id: ExternalId
    type: Literal["view", "click", "like", "purchase", "rating", "dislike"] = "click"
    value: float = Field(1.0, ge=-MAX_VALUE, le=MAX_VALUE, allow_inf_nan=False)
    timestamp: int | None = Field(None, ge=0, description="epoch seconds, not in the future")

    @field_validator("timestamp")
    @classmethod
    def _not_in_the_future(cls, value: int | None) -> int | None:
        if value is not None and value > time.time() + MAX_CLOCK_SKEW:
            raise ValueError("must not lie in the future (epoch seconds)")
        return value


class EventBatch(BaseModel):
    """Events committed together; a repeated ``idempotency_key`` is stored once."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1)
    idempotency_key: ExternalId | None = None


class SearchIn(BaseModel):
    """A natural-language query, optionally personalised for ``user_id``."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY),
                     AfterValidator(printable_text)]
    k: int = Field(10, ge=1, le=MAX_K)
    user_id: ExternalId | None = None


class ReloadIn(BaseModel):
    """Which model directory to load (default: the one the service started with)."""

    model_config = ConfigDict(extra="forbid")

    model_dir: str | None = Field(None, max_length=4096)

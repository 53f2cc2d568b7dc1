"""Request bodies of the HTTP API, with the bounds the service enforces."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from trustrec.serve.store import MAX_ID_LENGTH

#: Most events one ``POST /v1/events`` may carry.
MAX_BATCH = 10_000
#: Longest list one request may ask for.
MAX_K = 1000
#: Longest search query.
MAX_QUERY = 1000


def _id_text(value: object) -> object:
    """IDs arrive as strings or integers; the service keeps them as strings."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


ExternalId = Annotated[str, BeforeValidator(_id_text),
                       Field(min_length=1, max_length=MAX_ID_LENGTH)]


class EventIn(BaseModel):
    """One interaction: ``value`` is the rating for ``type='rating'``, else a weight."""

    model_config = ConfigDict(extra="forbid")

    user_id: ExternalId
    item_id: ExternalId
    type: Literal["view", "click", "like", "purchase", "rating", "dislike"] = "click"
    value: float = Field(1.0, ge=-1e6, le=1e6, allow_inf_nan=False)
    timestamp: int | None = Field(None, ge=0, le=10**11, description="epoch seconds")


class EventBatch(BaseModel):
    """Events committed together; a repeated ``idempotency_key`` is stored once."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)
    idempotency_key: ExternalId | None = None


class SearchIn(BaseModel):
    """A natural-language query, optionally personalised for ``user_id``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY)
    k: int = Field(10, ge=1, le=MAX_K)
    user_id: ExternalId | None = None


class ReloadIn(BaseModel):
    """Which model directory to load (default: the one the service started with)."""

    model_config = ConfigDict(extra="forbid")

    model_dir: str | None = Field(None, max_length=4096)

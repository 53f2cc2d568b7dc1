"""``POST /v1/chat``: conversational recommendation in the service.

The language model comes from the ``TRUSTREC_LLM_*`` environment of the server process
(the bundled model by default; a vLLM or other OpenAI-compatible server by URL), opened
on the first chat request. The catalogue (titles, genres, years) is built once per served
model generation.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from trustrec.serve.schemas import ExternalId
from trustrec.serve.service import Snapshot


class ChatIn(BaseModel):
    """A request in words, optionally for ``user_id``."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=1000)
    user_id: ExternalId | None = None
    k: int = Field(10, ge=1, le=100)


class ChatRoute:
    """The state ``POST /v1/chat`` keeps: the language model and a catalogue per model
    generation (both built on first use, under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lm: Any = None
        self._catalogue: tuple[int, Any] | None = None

    def answer(self, snap: Snapshot, items: Any, body: ChatIn) -> dict[str, Any]:
        """The chat reply for ``body`` against the snapshot's model."""
        from trustrec.chat import Catalogue, chat_recommend
        from trustrec.llm.settings import open_model

        with self._lock:
            if self._lm is None:
                self._lm = open_model()
            if self._catalogue is None or self._catalogue[0] != snap.generation:
                self._catalogue = (snap.generation, Catalogue.build(snap.model, items))
            lm, catalogue = self._lm, self._catalogue[1]
        reply = chat_recommend(snap.model, lm, body.message, user_id=body.user_id, k=body.k,
                               catalogue=catalogue)
        return {"model": snap.model.name, "generation": snap.generation,
                "llm": lm.model_id, **reply.to_dict()}

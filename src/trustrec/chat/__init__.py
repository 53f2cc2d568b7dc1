"""Conversational recommendation: a message in words becomes a schema-validated request,
the model's search / history path proposes items, and the answer names only those items."""

from trustrec.chat.recommend import (
    Catalogue,
    ChatAnswer,
    chat_recommend,
    chat_recommend_many,
    constraint_rate,
)
from trustrec.chat.request import REQUEST_SCHEMA, ChatRequest, parse_requests, validate_request

__all__ = ["REQUEST_SCHEMA", "Catalogue", "ChatAnswer", "ChatRequest", "chat_recommend",
           "chat_recommend_many", "constraint_rate", "parse_requests", "validate_request"]

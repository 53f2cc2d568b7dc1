"""RFC 7807 problem-detail errors: every failure is JSON, never a stack trace, and never a
server path (store errors answer with their ``public`` text; their reason is logged)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from trustrec.errors import ConfigError, DataError, ModelError, TrustrecError, UnknownIdError
from trustrec.serve.store import IdempotencyConflict, StoreError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Content too large",
           422: "Invalid request", 429: "Too many requests", 500: "Internal error",
           501: "Not implemented", 503: "Service unavailable"}


class Problem(Exception):
    """An error the API reports as ``{type, title, status, detail}`` with HTTP ``status``."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers, extra


def problem_response(status: int, detail: str, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    """A problem-detail JSON response."""
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status,
            "detail": detail, **extra}
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _status_of(exc: TrustrecError) -> int:
    if isinstance(exc, UnknownIdError):
        return 404
    if isinstance(exc, IdempotencyConflict):
        return 409
    if isinstance(exc, DataError | ConfigError | ModelError):
        return 422
    if isinstance(exc, StoreError):
        return 503
    return 400


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem-detail response."""

    @app.exception_handler(Problem)
    async def on_problem(_request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(HTTPException)
    async def on_http(_request: Request, exc: HTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
                  for e in exc.errors()[:20]]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        return problem_response(422, f"{'.'.join(first['loc'])}: {first['msg']}",
                                errors=errors)

    @app.exception_handler(TrustrecError)
    async def on_trustrec(_request: Request, exc: TrustrecError) -> JSONResponse:
        detail = exc.public if isinstance(exc, StoreError) else str(exc)
        return problem_response(_status_of(exc), detail)

    @app.exception_handler(Exception)
    async def on_crash(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "the server hit an unexpected error; it has been logged")

"""Who may call which route: checked from the headers alone, before the body is read.

Each guarded route declares an :class:`Access` policy as a dependency. FastAPI reads and
parses a request body before it solves dependencies, so :class:`GuardedRoute` runs the
policy first: it rate-limits the client address and the API key, authenticates the key,
checks its role and — for a route about one user (``personal``) — that the key may act for
that user. Only then is the body read (and capped by the app's ``max_body_size``). Routes
whose body names users check them with :func:`require_users` once it is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import Request, Response
from fastapi.routing import APIRoute

from trustrec.serve.problems import Problem
from trustrec.serve.security import ApiKey

_NEED_KEY = "a valid API key is required (header 'Authorization: Bearer <key>' or 'X-API-Key')"


@dataclass(frozen=True)
class Access:
    """A route's policy: the ``role`` a key needs; ``personal``, the path parameter naming
    the user whose data it touches; ``service``: end-user keys are refused (service-wide
    routes); ``anonymous``: open without a key when the service allows anonymous reads."""

    role: str
    personal: str | None = None
    service: bool = False
    anonymous: bool = False

    async def __call__(self, request: Request) -> ApiKey | None:
        """The key :class:`GuardedRoute` authenticated (None: an anonymous request)."""
        return request.state.api_key


def _presented(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _limit(request: Request, identity: str) -> None:
    svc = request.app.state.service
    wait = svc.limiter.acquire(identity)
    if wait > 0:
        svc.metrics.rate_limited.inc()
        raise Problem(429, f"rate limit of {svc.settings.rate:g} requests/s exceeded",
                      headers={"Retry-After": str(max(1, int(np.ceil(wait))))})


def authorize(request: Request, access: Access) -> ApiKey | None:
    """The request's key under ``access``; a 401/403/429 problem when it may not pass."""
    # on the event loop: it only touches memory, except a key-table read every
    # ``key_ttl`` seconds, cheaper than a thread hop on every request
    svc = request.app.state.service
    presented = _presented(request)
    # limit first, per client address (forwarded only by trusted proxies) and per key:
    # guesses at keys spend their address's tokens, and a key's tokens are shared by all
    # the addresses that use it
    _limit(request, f"ip:{request.client.host if request.client else 'unknown'}")
    key = svc.keys.verify(presented) if presented else None
    if key is not None:
        _limit(request, f"key:{key.key_id}")
    elif presented or not (access.anonymous and svc.settings.anonymous_reads):
        raise Problem(401, _NEED_KEY, headers={"WWW-Authenticate": "Bearer"})
    else:
        return None
    if not key.allows(access.role):
        raise Problem(403, f"this key has role '{key.role}'; the route needs '{access.role}'")
    if access.service and key.users is not None:
        raise Problem(403, "an end-user key cannot use this service-wide route")
    if access.personal is not None:
        require_users(key, [request.path_params[access.personal]])
    return key


def require_users(key: ApiKey | None, user_ids: Iterable[str]) -> None:
    """A 401 without a key, a 403 when ``key`` may not act for every one of ``user_ids``."""
    if key is None:
        raise Problem(401, _NEED_KEY + " for a user's data",
                      headers={"WWW-Authenticate": "Bearer"})
    if not all(key.may_act_for(user) for user in user_ids):
        raise Problem(403, "this key may not act for the user(s) named in the request")


class GuardedRoute(APIRoute):
    """An API route that runs its :class:`Access` policy before reading the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, preceded by the route's policy check (if it declares one)."""
        handler = super().get_route_handler()
        policies = [d.call for d in self.dependant.dependencies if isinstance(d.call, Access)]
        if not policies:
            return handler
        access = policies[0]

        async def guarded(request: Request) -> Response:
            request.state.api_key = authorize(request, access)
            return await handler(request)

        return guarded

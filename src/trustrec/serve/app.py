"""The FastAPI application: ``create_app(settings)`` builds one service instance.

Routes live under ``/v1``; ``/`` is the web page, ``/healthz``, ``/readyz`` and ``/metrics``
are for operators, ``/docs`` is the OpenAPI page. Read routes are open unless
``require_read_key``; write and admin routes always need a key of that role. Every client
(key, or address without one) has a token bucket; errors are problem-detail JSON.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from trustrec.errors import ModelError
from trustrec.serve import problems
from trustrec.serve.metrics import MetricsMiddleware
from trustrec.serve.online import ModelIds, UserScores, top_items
from trustrec.serve.problems import Problem
from trustrec.serve.schemas import MAX_K, EventBatch, ReloadIn, SearchIn
from trustrec.serve.security import ApiKey
from trustrec.serve.service import Service, Snapshot
from trustrec.serve.settings import Settings
from trustrec.serve.store import EVENT_TYPES, MAX_ID_LENGTH, Event

IdPath = Annotated[str, PathParam(min_length=1, max_length=MAX_ID_LENGTH)]


def _service(request: Request) -> Service:
    return request.app.state.service


def guard(role: str | None) -> Callable[[Request], Awaitable[ApiKey | None]]:
    """Dependency: authenticate (when ``role`` is set or a key is sent) and rate-limit."""

    async def dependency(request: Request) -> ApiKey | None:
        # on the event loop: it only touches memory, except a key-table read every
        # ``key_ttl`` seconds, cheaper than a thread hop on every request
        svc = _service(request)
        auth = request.headers.get("authorization", "")
        presented = auth[7:].strip() if auth.lower().startswith("bearer ") else \
            request.headers.get("x-api-key")
        needed = role or ("read" if svc.settings.require_read_key else None)
        key = svc.keys.verify(presented) if presented else None
        # limit first: guesses at keys spend their address's tokens
        identity = f"key:{key.key_id}" if key else \
            f"ip:{request.client.host if request.client else 'unknown'}"
        wait = svc.limiter.acquire(identity)
        if wait > 0:
            svc.metrics.rate_limited.inc()
            raise Problem(429, f"rate limit of {svc.settings.rate:g} requests/s exceeded",
                          headers={"Retry-After": str(max(1, int(np.ceil(wait))))})
        if (presented or needed) and key is None:
            raise Problem(401, "a valid API key is required (header 'Authorization: Bearer "
                               "<key>' or 'X-API-Key')",
                          headers={"WWW-Authenticate": "Bearer"})
        if needed and key is not None and not key.allows(needed):
            raise Problem(403, f"this key has role '{key.role}'; the route needs '{needed}'")
        return key

    return dependency


def _optional(module: str, name: str, what: str) -> Callable[..., Any]:
    """``module.name`` imported on use, or a 501 problem saying the capability is missing."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise Problem(501, f"{what} is not available in this installation "
                           f"({module}.{name} is missing)") from None


def _item_rows(snap: Snapshot, items: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    ids = snap.model.item_index_.to_external(items).tolist()
    return [{"item_id": i, "rank": r + 1, "score": float(s), "title": t}
            for r, (i, s, t) in enumerate(zip(ids, scores.tolist(), snap.titles[items],
                                              strict=True))]


def _explanations(snap: Snapshot, items: pd.DataFrame | None, user_id: str,
                  item_ids: list[Any], known: bool, unknown_user_ok: bool = False) -> list[Any]:
    """Explanations of ``item_ids`` for ``user_id`` (titles from the ``items`` table);
    ``known``: the model holds the user and may use it (no erasure recorded). None each for
    another user when ``unknown_user_ok`` (a newcomer's list is still served), else 404."""
    explain = _optional("trustrec.explain", "explain_external", "explanation")
    if not known:
        if unknown_user_ok:
            return [None] * len(item_ids)
        raise Problem(404, f"user {user_id!r} is not known to the model")
    try:
        return [_json_safe(explain(snap.model, user_id, item, k_reasons=3, items=items)
                           .to_dict()) for item in item_ids]
    except ModelError as exc:
        raise Problem(501, f"explanations: {exc}") from None


def create_app(settings: Settings) -> FastAPI:
    """A FastAPI app serving ``settings.model_dir`` with events in ``settings.db_url``."""
    service = Service(settings)
    app = FastAPI(title="trustrec", version="1", description="Recommendations that follow "
                  "each user's latest events; see /docs for the API.")
    app.state.service = service
    problems.install(app)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                       allow_methods=["GET", "POST", "DELETE"],
                       allow_headers=["Authorization", "X-API-Key", "Content-Type",
                                      "Idempotency-Key"])
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    read, write, admin = Depends(guard(None)), Depends(guard("write")), Depends(guard("admin"))
    index_html = resources.files("trustrec.serve").joinpath("static/index.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return index_html

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, Any]:
        """A model is loaded and the event store answers."""
        if not service.store.ping():
            raise Problem(503, "the event store does not answer")
        snap = service.snapshot
        return {"status": "ready", "model": snap.model.name, "generation": snap.generation}

    @app.get("/metrics", dependencies=[read])
    def metrics() -> Response:
        """Prometheus metrics of this process."""
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    def recommend(user_id: str, k: int, exclude_seen: bool, explain: bool,
                  ready: tuple[Snapshot, UserScores] | None = None) -> JSONResponse:
        """The list; may load a model or score the user unless ``ready`` gives both."""
        if ready is None:
            snap = service.snapshot
            scores = service.online.user_scores(snap.model, user_id, exclude_seen)
        else:
            snap, scores = ready
        request_id = str(uuid.uuid4())
        if snap.bandit is None:
            items, top = top_items(scores.scores, k)
            propensity = None
        else:
            ranked, _ = top_items(scores.scores, max(k, settings.bandit_candidates))
            items, propensity = snap.bandit.serve(user_id, ranked, scores.history.items, k)
            top = scores.scores[items]
        rows = _item_rows(snap, items, top)
        if propensity is not None:
            for row, p in zip(rows, propensity.tolist(), strict=True):
                row["propensity"] = p
            service.store.log_served(request_id, user_id, [str(r["item_id"]) for r in rows],
                                     propensity)
        if explain:
            whys = _explanations(snap, service.items, user_id, [r["item_id"] for r in rows],
                                 scores.history.user is not None, unknown_user_ok=True)
            for row, why in zip(rows, whys, strict=True):
                row["explanation"] = why
        service.metrics.lists.labels(scores.source).inc()
        return JSONResponse({  # rows are JSON-ready: skip FastAPI's generic encoder
            "user_id": user_id, "request_id": request_id, "model": snap.model.name,
            "generation": snap.generation, "online": scores.online, "source": scores.source,
            "note": scores.note, "events_used": scores.history.n_events, "items": rows})

    @app.get("/v1/recommendations/{user_id}", dependencies=[read])
    async def recommendations(
        user_id: IdPath,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        exclude_seen: bool = True,
        explain: bool = False,
    ) -> JSONResponse:
        """Top-k items for a user, reflecting every event already acknowledged."""
        # a list already scored is served on the event loop; anything that may block
        # (scoring, loading a model, explanations, the bandit log) runs in a thread
        ready = None if explain else service.cached_list(user_id, exclude_seen)
        if ready is not None:
            return recommend(user_id, k, exclude_seen, explain, ready)
        return await run_in_threadpool(recommend, user_id, k, exclude_seen, explain)

    @app.post("/v1/events", dependencies=[write])
    def post_events(
        batch: EventBatch,
        header_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                 max_length=MAX_ID_LENGTH)] = None,
    ) -> dict[str, Any]:
        """Commit a batch of events (durable before the reply); a repeated idempotency key
        (body field or ``Idempotency-Key`` header) stores nothing."""
        key = batch.idempotency_key or header_key
        result = service.store.add_events(
            [Event(e.user_id, e.item_id, e.type, e.value, e.timestamp) for e in batch.events],
            idempotency_key=key)
        if result.duplicate:
            service.metrics.duplicates.inc()
        else:
            service.metrics.events.inc(result.n_events)
            snap = service.snapshot
            _bandit_feedback(snap, service.online.ids(snap.model), batch)
        return {"stored": 0 if result.duplicate else result.n_events,
                "duplicate": result.duplicate, "batch_events": result.n_events,
                "idempotency_key": key}

    @app.post("/v1/search", dependencies=[read])
    def search(body: SearchIn) -> dict[str, Any]:
        """Items whose text best matches a natural-language query (text models)."""
        search_external = _optional("trustrec.models.search", "search_external", "search")
        snap = service.snapshot
        user = body.user_id if body.user_id and service.knows(snap, body.user_id) else None
        try:
            frame = search_external(snap.model, body.query, k=body.k, user_id=user)
        except ModelError as exc:
            raise Problem(501, f"search: {exc}") from None
        return {"query": body.query, "model": snap.model.name, "personalised": user is not None,
                "items": _records(frame[["item_id", "title", "rank", "score"]])}

    @app.get("/v1/items/{item_id}", dependencies=[read])
    def item(item_id: IdPath) -> dict[str, Any]:
        """What the service knows about one item."""
        snap = service.snapshot
        idx = int(snap.model.item_index_.lookup([item_id], what="item")[0])
        out: dict[str, Any] = {"item_id": snap.model.item_index_.ids[idx].item(),
                               "title": snap.titles[idx],
                               "training_interactions": int(snap.model.item_popularity_[idx])}
        if service.items is not None:
            row = service.items[service.items["item_id"].astype(str) == item_id]
            if len(row):
                out["attributes"] = _records(row.drop(columns=["item_id", "title"],
                                                      errors="ignore"))[0]
        return out

    @app.get("/v1/explain/{user_id}/{item_id}", dependencies=[read])
    def explain_item(user_id: IdPath, item_id: IdPath) -> dict[str, Any]:
        """Why ``item_id`` is recommended to ``user_id`` (needs trustrec.explain)."""
        snap = service.snapshot
        return {"user_id": user_id, "item_id": item_id,
                "explanation": _explanations(snap, service.items, user_id, [item_id],
                                             service.knows(snap, user_id))[0]}

    @app.delete("/v1/users/{user_id}", dependencies=[admin])
    def delete_user(user_id: IdPath) -> dict[str, Any]:
        """Erase the user's events and, where unlearning is available, their influence
        (recorded first, finished at the next start if the process dies meanwhile)."""
        return _json_safe(service.erase(user_id))

    @app.post("/v1/admin/reload", dependencies=[admin])
    def reload(body: Annotated[ReloadIn | None, Body()] = None) -> dict[str, Any]:
        """Load a model directory fully, then swap it in without dropping requests."""
        path = None if body is None or body.model_dir is None else Path(body.model_dir)
        snap = service.reload(path)
        return {"model": snap.model.name, "generation": snap.generation,
                "model_dir": str(snap.source)}

    return app


def _bandit_feedback(snap: Snapshot, ids: ModelIds, batch: EventBatch) -> None:
    """Pass events on items of pending bandit lists to the bandit as rewards."""
    if snap.bandit is None:
        return
    frame = pd.DataFrame([(e.user_id, e.item_id, e.type) for e in batch.events],
                         columns=["user_id", "item_id", "type"])
    frame = frame[frame["user_id"].isin(snap.bandit.pending_users())]
    idx, known = ids.items.known(frame["item_id"].to_numpy(dtype=str))
    frame = frame.assign(item=idx)[known]
    for user, item, kind in frame[["user_id", "item", "type"]].itertuples(index=False):
        snap.bandit.feedback(user, int(item), EVENT_TYPES[kind])  # only pending users' events


def _json_safe(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made Python, non-finite floats made None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows of a frame (NaN → null, numpy scalars → Python)."""
    return [_json_safe(r) for r in frame.astype(object).where(frame.notna(), None)
            .to_dict(orient="records")]


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers (settings in ``$TRUSTREC_SERVE_SETTINGS``).

    A server process runs many small requests in parallel threads: BLAS runs single-threaded
    in it, as threads of a multi-threaded BLAS spinning per request only fight each other.
    A worker of ``trustrec serve --workers N`` dies with its supervisor. The objects that
    exist once the app is built (modules, the model) are frozen out of the garbage
    collector, which would otherwise walk them all on every full collection.
    """
    import gc

    from threadpoolctl import threadpool_limits

    from trustrec.serve.supervision import die_with_supervisor

    die_with_supervisor()
    threadpool_limits(limits=1)
    app = create_app(Settings.from_env())
    gc.collect()
    gc.freeze()
    return app

"""The FastAPI application: ``create_app(settings)`` builds one service instance.

Routes live under ``/v1``; ``/`` is the web page, ``/healthz``, ``/readyz`` and ``/metrics``
are for operators, ``/docs`` is the OpenAPI page (only with ``open_docs``). Who may call
what is each route's :class:`~trustrec.serve.access.Access` policy, checked before the body
is read: a route about a user needs a key that may act for that user, service-wide routes a
service key, and only non-personal reads may be anonymous (``anonymous_reads``). Every
client address and every key has a token bucket; errors are problem-detail JSON.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Body, Depends, FastAPI, Header, Query, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from trustrec.errors import ModelError, TrustrecError
from trustrec.serve import problems
from trustrec.serve.access import Access, GuardedRoute, require_users
from trustrec.serve.chat import ChatIn, ChatRoute
from trustrec.serve.metrics import MetricsMiddleware
from trustrec.serve.online import UserScores, top_items
from trustrec.serve.page import page_headers
from trustrec.serve.problems import Problem
from trustrec.serve.schemas import MAX_BATCH, MAX_K, EventBatch, IdPath, ReloadIn, SearchIn
from trustrec.serve.security import ApiKey
from trustrec.serve.service import Service, Snapshot
from trustrec.serve.settings import Settings
from trustrec.serve.store import EVENT_TYPES, MAX_ID_LENGTH, Event

log = logging.getLogger(__name__)


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
    docs = settings.open_docs
    app = FastAPI(title="trustrec", version="1", description="Recommendations that follow "
                  "each user's latest events; see /docs for the API.",
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None,
                  max_body_size=settings.max_body_bytes)
    app.router.route_class = GuardedRoute
    app.state.service = service
    problems.install(app)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                       allow_methods=["GET", "POST", "DELETE"],
                       allow_headers=["Authorization", "X-API-Key", "Content-Type",
                                      "Idempotency-Key"])
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    # the client address: the socket's peer, or what a configured proxy forwarded
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    by_user = Depends(Access("read", personal="user_id"))
    anyone = Depends(Access("read", anonymous=True))
    write = Depends(Access("write"))
    erase = Depends(Access("admin", personal="user_id"))
    scrape, admin = Depends(Access("metrics", service=True)), Depends(Access("admin", service=True))
    index_html = resources.files("trustrec.serve").joinpath("static/index.html").read_text()
    index_headers = page_headers(index_html)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(index_html, headers=index_headers)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, Any]:
        """A model is loaded and the event store answers and takes writes."""
        if not service.store.ping():
            raise Problem(503, "the event store does not answer")
        if not service.store.writable():
            raise Problem(503, "the event store refuses writes (reason in the server log)")
        snap = service.snapshot
        return {"status": "ready", "model": snap.model.name, "generation": snap.generation}

    @app.get("/metrics", dependencies=[scrape])
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
                                     propensity, max_rows=settings.served_log_rows,
                                     max_age_s=settings.served_log_days * 86_400)
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

    @app.get("/v1/recommendations/{user_id}", dependencies=[by_user])
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

    @app.post("/v1/events")
    def post_events(
        batch: EventBatch,
        header_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                 max_length=MAX_ID_LENGTH)] = None,
        api_key: ApiKey = write,
    ) -> dict[str, Any]:
        """Commit a batch of events (durable before the reply); an idempotency key (body
        field or ``Idempotency-Key`` header) is the sending API key's own: repeated with the
        same events it stores nothing, with other events it is a 409."""
        if len(batch.events) > MAX_BATCH:
            raise Problem(413, f"a batch holds at most {MAX_BATCH:,} events; got "
                               f"{len(batch.events):,}")
        require_users(api_key, {e.user_id for e in batch.events})
        key = batch.idempotency_key or header_key
        result = service.store.add_events(
            [Event(e.user_id, e.item_id, e.type, e.value, e.timestamp) for e in batch.events],
            idempotency_key=key, scope=api_key.key_id)
        if result.duplicate:
            service.metrics.duplicates.inc()
        else:
            service.metrics.events.inc(result.n_events)
            _bandit_feedback(service.snapshot, batch)
        return {"stored": 0 if result.duplicate else result.n_events,
                "duplicate": result.duplicate, "batch_events": result.n_events,
                "idempotency_key": key}

    @app.post("/v1/search")
    def search(body: SearchIn, api_key: ApiKey | None = anyone) -> dict[str, Any]:
        """Items whose text best matches a natural-language query (text models); with a
        ``user_id``, personalised for a user the key may act for."""
        if body.user_id is not None:
            require_users(api_key, [body.user_id])
        search_external = _optional("trustrec.models.search", "search_external", "search")
        snap = service.snapshot
        user = body.user_id if body.user_id and service.knows(snap, body.user_id) else None
        try:
            frame = search_external(snap.model, body.query, k=body.k, user_id=user)
        except ModelError as exc:
            raise Problem(501, f"search: {exc}") from None
        return {"query": body.query, "model": snap.model.name, "personalised": user is not None,
                "items": _records(frame[["item_id", "title", "rank", "score"]])}

    # ---- POST /v1/chat: conversational recommendation (trustrec.chat, issue 15) ----
    chat_route = ChatRoute()
    reader = Depends(Access("read"))  # a key always: every answer costs a language model

    @app.post("/v1/chat")
    def chat(body: ChatIn, api_key: ApiKey | None = reader) -> dict[str, Any]:
        """Items for a request in words; with a ``user_id``, for a user the key may act for.
        The answer names only items on the list."""
        if body.user_id is not None:
            require_users(api_key, [body.user_id])
        try:
            return _json_safe(chat_route.answer(service.snapshot, service.items, body))
        except ModelError as exc:
            raise Problem(501, f"chat: {exc}") from None
    # ---- end of POST /v1/chat ----

    @app.get("/v1/items/{item_id}", dependencies=[anyone])
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

    @app.get("/v1/explain/{user_id}/{item_id}", dependencies=[by_user])
    def explain_item(user_id: IdPath, item_id: IdPath) -> dict[str, Any]:
        """Why ``item_id`` is recommended to ``user_id`` (needs trustrec.explain)."""
        snap = service.snapshot
        return {"user_id": user_id, "item_id": item_id,
                "explanation": _explanations(snap, service.items, user_id, [item_id],
                                             service.knows(snap, user_id))[0]}

    @app.delete("/v1/users/{user_id}", dependencies=[erase])
    def delete_user(user_id: IdPath) -> dict[str, Any]:
        """Erase the user's events and, where unlearning is available, their influence
        (recorded first, finished at the next start if the process dies meanwhile)."""
        return _json_safe(service.erase(user_id))

    @app.post("/v1/admin/reload", dependencies=[admin])
    def reload(body: Annotated[ReloadIn | None, Body()] = None) -> dict[str, Any]:
        """Load a signed model directory (the served one, or one under a configured model
        root) fully, then swap it in without dropping requests."""
        path = None if body is None or body.model_dir is None else Path(body.model_dir)
        if path is not None and not service.may_load(path):
            raise Problem(403, "model_dir is not the served directory nor under a configured "
                               "model root (--model-root)")
        try:
            snap = service.reload(path)
        except (TrustrecError, OSError) as exc:  # the reason names server paths: log it
            log.warning("reload refused; still serving generation %d: %s",
                        service.snapshot.generation, exc)
            raise Problem(422, "the model directory cannot be loaded (missing, unsigned, "
                               "tampered with or invalid; reason in the server log); the "
                               "current model keeps serving") from None
        return {"model": snap.model.name, "generation": snap.generation,
                "model_dir": str(snap.source)}

    return app


def _bandit_feedback(snap: Snapshot, batch: EventBatch) -> None:
    """Pass events on items of pending bandit lists to the bandit as rewards."""
    if snap.bandit is None:
        return
    frame = pd.DataFrame([(e.user_id, e.item_id, e.type) for e in batch.events],
                         columns=["user_id", "item_id", "type"])
    frame = frame[frame["user_id"].isin(snap.bandit.pending_users())]
    idx, known = snap.model.item_index_.lookup_known(frame["item_id"].to_numpy(dtype=str))
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

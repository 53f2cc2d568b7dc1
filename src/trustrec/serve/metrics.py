"""Prometheus metrics of one service instance (its own registry: no global state).

Every label comes from a fixed set, whatever clients send: the method is one of
:data:`METHODS` or ``OTHER``, the route is a route template or ``unmatched``, the status a
three-digit code the service wrote.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: HTTP methods counted under their own name; any other is counted as ``OTHER``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ServiceMetrics:
    """Request counts and latencies per route, events ingested, fallbacks, reloads."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("trustrec_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("trustrec_request_seconds", "Request latency by route",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        self.events = Counter("trustrec_events_ingested", "Events committed to the store",
                              registry=self.registry)
        self.duplicates = Counter("trustrec_duplicate_batches",
                                  "Event batches ignored for a repeated idempotency key",
                                  registry=self.registry)
        self.lists = Counter("trustrec_recommendation_lists",
                             "Lists served, by source (model, history, popular, trained)",
                             ["source"], registry=self.registry)
        self.rate_limited = Counter("trustrec_rate_limited", "Requests refused with 429",
                                    registry=self.registry)
        self.reloads = Counter("trustrec_model_reloads", "Models swapped in",
                               registry=self.registry)
        self.model_generation = Gauge("trustrec_model_generation", "Generation of the model",
                                      registry=self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request under its route template."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            method = method if method in METHODS else "OTHER"
            self.metrics.requests.labels(method, route, str(status[0])).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)

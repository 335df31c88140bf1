"""Request metrics with bounded labels: the route *template*, the method and the status class."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})


def _template(scope: Scope) -> str:
    """The matched route's path template (never the concrete path, which holds ids)."""
    return str(getattr(scope.get("route"), "path", UNMATCHED))


class Metrics:
    """ASGI middleware counting and timing every HTTP request in a registry of its own."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app, self.registry = app, registry
        self.requests = Counter(
            "plugin_db_api_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "plugin_db_api_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.requests.labels(route, method, f"{status[0] // 100}xx").inc()
            self.latency.labels(route).observe(time.perf_counter() - started)

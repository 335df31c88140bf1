"""``create_app``: the HTTP API with its problem documents, body limit and metrics."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker import metrics as fleet_metrics
from worker.api import (
    problems,
    routes_connection,
    routes_events,
    routes_lifecycle,
    routes_service,
    routes_snapshots,
    routes_webhooks,
)
from worker.api.context import ApiContext
from worker.api.metrics import Metrics
from worker.api.problems import FieldProblem, problem_response
from worker.settings import Settings
from worker.tracking.db import make_engine

MAX_BODY_BYTES = 1024 * 1024
"""Bodies above this get ``413`` before any handler reads them."""


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def receiving() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise TooLarge
            return message

        try:
            await self.app(scope, receiving, send)
        except TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the body exceeds {self.limit} bytes; send a smaller document"
        response = problem_response(
            413, "body too large", [FieldProblem(field="body", detail=detail)]
        )
        await response(scope, receive, send)


class TooLarge(Exception):
    """A streamed body passed the limit."""


def routers() -> list[APIRouter]:
    """Every router of the API (a feature adds its module here, one line)."""
    return [
        routes_service.router,
        routes_lifecycle.router,
        routes_connection.router,
        routes_events.router,
        routes_webhooks.router,
        routes_snapshots.router,
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for ``settings`` (default: from the environment, as the worker reads it)."""
    app = FastAPI(
        title="plugin-db",
        version="1",
        summary="Provision, migrate, rotate and tear down per-plugin databases.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    ctx = ApiContext(settings or Settings.from_env())
    app.state.ctx = ctx
    problems.install(app)
    for router in routers():
        app.include_router(router)
    # the fleet's series (tracking tables, this process's live counters) and the API's own
    engine = make_engine(ctx.settings.database_url)
    registry = ctx.extras["registry"] = fleet_metrics.registry(engine)
    app.add_middleware(BodyLimit)
    app.add_middleware(Metrics, registry=registry)
    return app

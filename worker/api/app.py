"""``create_app``: the HTTP API with its problem documents, body limit and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker import metrics as fleet_metrics
from worker.api import (
    problems,
    routes_connection,
    routes_events,
    routes_lifecycle,
    routes_plugins,
    routes_registry,
    routes_relocate,
    routes_service,
    routes_snapshots,
    routes_webhooks,
)
from worker.api.context import ApiContext
from worker.api.metrics import Metrics
from worker.api.problems import FieldProblem, problem_response
from worker.api.strict import no_unknown_query
from worker.console import routes as console_routes
from worker.settings import Settings
from worker.tracking.db import make_engine

MAX_BODY_BYTES = 1024 * 1024
"""Bodies above this get ``413`` before any handler reads them."""


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes (declared or streamed) with 413."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body = await self._read(receive)  # chunked: read it all (bounded) before the app
        if body is None:
            await self._refuse(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole streamed body, or None once it passes the limit."""
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            parts.append(chunk)
            more = message.get("more_body", False)
        return b"".join(parts)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the body exceeds {self.limit} bytes; send a smaller document"
        errors = [FieldProblem(field="body", detail=detail)]
        response = problem_response(413, "body too large", errors)
        await response(scope, receive, send)


def routers() -> list[APIRouter]:
    """Every router of the API (a feature adds its module here, one line)."""
    return [
        routes_service.router,
        routes_lifecycle.router,
        routes_connection.router,
        routes_plugins.router,
        routes_registry.router,
        routes_relocate.router,
        routes_events.router,
        routes_webhooks.router,
        console_routes.router,
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
        dependencies=[Depends(no_unknown_query)],
    )
    ctx = ApiContext(settings or Settings.from_env())
    app.state.ctx = ctx
    problems.install(app)
    app.state.routes = []
    for router in routers():
        app.include_router(router)
        app.state.routes.extend(r for r in router.routes if isinstance(r, APIRoute))
    # the fleet's series (tracking tables, this process's live counters) and the API's own
    engine = make_engine(ctx.settings.database_url)
    registry = ctx.extras["registry"] = fleet_metrics.registry(engine, ctx.settings)
    app.add_middleware(BodyLimit)
    app.add_middleware(Metrics, registry=registry)
    return app

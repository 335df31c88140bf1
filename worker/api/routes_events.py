"""``GET /api/events``: Server-Sent Events from the relayed outbox, resumable by position."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from worker.api.auth import require_scope
from worker.api.context import ApiContext, api_context
from worker.api.problems import responses
from worker.errors import RequestRejected
from worker.events import stream
from worker.events.outbox import EVENT_TYPES

router = APIRouter(tags=["events"], responses=responses(401, 403, 422))


def _position(last_event_id: str | None) -> int:
    if last_event_id is None or last_event_id == "":
        return 0
    if not last_event_id.isdigit() or len(last_event_id) > 18:
        raise RequestRejected(
            "invalid Last-Event-ID", ["Last-Event-ID: a stream position (digits)"]
        )
    return int(last_event_id)


def frame(position: int, event: dict[str, Any]) -> str:
    """One SSE frame: ``id`` is the stream position, ``event`` the type, ``data`` the JSON."""
    data = json.dumps(event, separators=(",", ":"), default=str)
    return f"id: {position}\nevent: {event['type']}\ndata: {data}\n\n"


@router.get(
    "/api/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The event stream"}},
)
async def events(  # noqa: PLR0917 - FastAPI parameters
    request: Request,
    ctx: Annotated[ApiContext, Depends(api_context)],
    _actor: Annotated[str, Depends(require_scope("plugins:read"))],
    plugin: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z][a-z0-9-]*$")] = None,
    type_: Annotated[list[str] | None, Query(alias="type", max_length=20)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    follow: bool = True,
) -> StreamingResponse:
    """Every event after ``Last-Event-ID`` (all when absent), then new ones as they come.

    ``follow=false`` ends the stream once the events already relayed are sent.
    """
    types = list(type_ or [])
    unknown = sorted(set(types) - EVENT_TYPES)
    if unknown:
        raise RequestRejected("unknown event type", [f"type: {unknown[0]!r} is not an event type"])
    start = _position(last_event_id)

    async def body() -> AsyncIterator[str]:
        async def fetch(position: int) -> stream.Batch:
            return await run_in_threadpool(
                stream.after, ctx.sessions, position, plugin_id=plugin, types=types
            )

        yield "retry: 1000\n\n"
        batches = stream.batches(fetch, start, follow=follow, disconnected=request.is_disconnected)
        async for batch in batches:
            if not batch:
                yield ": keep-alive\n\n"
            for position, event in batch:
                yield frame(position, event)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

"""The operations page's live view: the relayed event stream, as Server-Sent Events.

The same stream as ``GET /api/events`` (positions are the outbox ``seq``, resumable with
``Last-Event-ID``), authenticated by the console session instead of a bearer token. Each
frame's ``data`` is a JSON object with the event (type, plugin, operation, time) and, on the
last frame of a batch, ``rows``: the operations table re-rendered after those events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from worker.events import stream
from worker.events.outbox import payload
from worker.tracking.models import OutboxEvent

RECENT = 20
SHOWN = ("type", "plugin_id", "operation_id", "timestamp")


def start_position(last_event_id: str | None, after: str | None, head: int) -> int:
    """Where a stream starts: the browser's ``Last-Event-ID``, else ``after``, else the head."""
    for value in (last_event_id, after):
        if value and value.isdigit() and len(value) <= 18:
            return int(value)
    return head


def recent(session: Session) -> list[dict[str, Any]]:
    """The last relayed events, newest first, as the page lists them."""
    rows = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.seq.is_not(None))
        .order_by(OutboxEvent.seq.desc())
        .limit(RECENT)
    ).all()
    return [shown(int(row.seq or 0), payload(row)) for row in rows]


def shown(position: int, event: dict[str, Any]) -> dict[str, Any]:
    """What the live list shows of one event."""
    return {"position": position, **{k: event.get(k) for k in SHOWN}}


def frame(position: int, data: dict[str, Any]) -> str:
    """One SSE frame (the default ``message`` event)."""
    return f"id: {position}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def frames(
    sessions: sessionmaker[Session],
    start: int,
    rows: Callable[[], str],
    disconnected: Callable[[], Awaitable[bool]],
    follow: bool = True,
) -> AsyncIterator[str]:
    """Events after ``start`` as they are relayed, each batch closed by the table's rows."""

    async def fetch(position: int) -> stream.Batch:
        return await run_in_threadpool(stream.after, sessions, position)

    yield "retry: 1000\n\n"
    async for batch in stream.batches(fetch, start, follow=follow, disconnected=disconnected):
        if not batch:
            yield ": keep-alive\n\n"
        for n, (position, event) in enumerate(batch, start=1):
            data = shown(position, event)
            if n == len(batch):
                data["rows"] = await run_in_threadpool(rows)
            yield frame(position, data)

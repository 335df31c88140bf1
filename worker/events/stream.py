"""Reading the relayed events in stream order (``seq``), for the SSE route and the CLI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.events.outbox import payload
from worker.tracking.db import tracking_errors
from worker.tracking.models import OutboxEvent


def after(
    sessions: sessionmaker[Session],
    position: int,
    *,
    plugin_id: str | None = None,
    types: Sequence[str] = (),
    limit: int = 200,
) -> list[tuple[int, dict[str, Any]]]:
    """(position, event) pairs after ``position``, oldest first, filtered."""
    query = select(OutboxEvent).where(OutboxEvent.seq > position)
    if plugin_id:
        query = query.where(OutboxEvent.plugin_id == plugin_id)
    if types:
        query = query.where(OutboxEvent.type.in_(list(types)))
    with tracking_errors(), sessions() as session:
        rows = session.scalars(query.order_by(OutboxEvent.seq).limit(limit)).all()
        return [(int(row.seq or 0), payload(row)) for row in rows]


def head(sessions: sessionmaker[Session]) -> int:
    """The newest position handed out (0 when nothing was relayed yet)."""
    with tracking_errors(), sessions() as session:
        value = session.scalar(select(OutboxEvent.seq).order_by(OutboxEvent.seq.desc()).limit(1))
        return int(value or 0)


Batch = list[tuple[int, dict[str, Any]]]
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


async def batches(
    fetch: Callable[[int], Awaitable[Batch]],
    start: int,
    *,
    follow: bool,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[Batch]:
    """Batches of events after ``start`` until the client leaves (or, without ``follow``, the
    stream runs dry); while following, an empty batch after a quiet spell asks for a keep-alive."""
    position, quiet_since = start, time.monotonic()
    while not await disconnected():
        batch = await fetch(position)
        if batch:
            position, quiet_since = batch[-1][0], time.monotonic()
            yield batch
            continue
        if not follow:
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield []
        await asyncio.sleep(POLL_SECONDS)

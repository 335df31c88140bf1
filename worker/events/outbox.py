"""``emit``: an event row in the caller's transaction, so it commits (or not) with its cause."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from worker.logging import redact
from worker.tracking.direct import Direct
from worker.tracking.models import OutboxEvent, utcnow

EVENT_TYPES = frozenset(
    {
        "datasource.ready",
        "datasource.failed",
        "datasource.archived",
        "datasource.restored",
        "datasource.purged",
        "datasource.relocated",
        "migration.applied",
        "migration.failed",
        "migration.rolled_back",
        "credentials.rotated",
        "credentials.retired",
        "schema.registered",
        "operation.failed",
        "operation.succeeded",
        "quota.exceeded",
        "quota.restored",
        "snapshot.restored",
    }
)
MAX_DATA_BYTES = 4096
INSERT = Direct(cast(Table, OutboxEvent.__table__).insert())


def new_event_id() -> str:
    """``evt_`` and 32 hex digits: the event's id, and the ``webhook-id`` of its deliveries."""
    return f"evt_{uuid.uuid4().hex}"


def emit(
    session: Session,
    *,
    type: str,
    plugin_id: str,
    operation_id: int | None,
    generation: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one ``outbox_events`` row to ``session``'s transaction.

    ``data`` is redacted (sensitive keys, URL passwords, every issued secret) and must stay
    small: it says what happened, the tracking tables hold the rest.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; expected one of {sorted(EVENT_TYPES)}")
    clean = redact(data or {})
    if len(json.dumps(clean, default=str)) > MAX_DATA_BYTES:
        clean = {"truncated": True}
    INSERT.run(  # one INSERT now, in the caller's transaction
        session.connection(),
        {
            "event_id": new_event_id(),
            "type": type,
            "plugin_id": plugin_id,
            "operation_id": operation_id,
            "generation": generation,
            "data": clean,
            "created_at": utcnow(),
        },
    )


def payload(row: OutboxEvent) -> dict[str, Any]:
    """The public JSON of an event (webhook body, stream ``data``)."""
    return {
        "id": row.event_id,
        "type": row.type,
        "timestamp": _iso(row.created_at),
        "plugin_id": row.plugin_id,
        "operation_id": row.operation_id,
        "generation": row.generation,
        "data": row.data,
    }


def body(row: OutboxEvent) -> str:
    """The exact bytes that are signed and sent (compact JSON)."""
    return json.dumps(payload(row), separators=(",", ":"), sort_keys=True)


def _iso(value: datetime) -> str:
    text = value.isoformat()
    return text if value.tzinfo else f"{text}+00:00"

"""Audit events: append-only, redacted, written in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from worker.logging import get_logger, redact
from worker.metrics_catalogue import COUNTED_EVENTS
from worker.tracking.direct import Direct
from worker.tracking.models import AuditEvent, utcnow

log = get_logger("audit")
INSERT = Direct(cast(Table, AuditEvent.__table__).insert())


@dataclass(frozen=True)
class Event:
    """One audit event of a batch (see :func:`record_many`)."""

    event: str
    plugin_id: str | None
    operation_id: int | None = None
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def record_many(session: Session, events: Sequence[Event]) -> None:
    """Add audit events to ``session``'s transaction in one INSERT (``executemany`` for
    several), each also logged and counted."""
    if not events:
        return
    clean = [redact(e.details) for e in events]
    now = utcnow()
    rows = [
        {
            "plugin_id": e.plugin_id,
            "operation_id": e.operation_id,
            "event": e.event,
            "actor": e.actor,
            "details": details,
            "timestamp": now,
        }
        for e, details in zip(events, clean, strict=True)
    ]
    # on the session's connection: no unit-of-work flush before it (that comes at commit)
    INSERT.run(session.connection(), rows)
    for e, details in zip(events, clean, strict=True):
        log.info(
            e.event, plugin_id=e.plugin_id, operation_id=e.operation_id, actor=e.actor, **details
        )
        _count(e.event, details)


def record(
    session: Session,
    event: str,
    *,
    plugin_id: str | None,
    operation_id: int | None = None,
    actor: str | None = None,
    **details: Any,
) -> None:
    """Add one audit event (snake_case ``event``) to ``session``'s transaction."""
    record_many(session, [Event(event, plugin_id, operation_id, actor, details)])


def _count(event: str, details: dict[str, Any]) -> None:
    """Count ``event`` in the live series if it is one they count (the Prometheus client is
    imported only then: accepting a request on the command line counts nothing)."""
    if event in COUNTED_EVENTS:
        from worker import metrics

        metrics.audit_event(event, details)

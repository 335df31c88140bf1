"""Audit events: append-only, redacted, written in the caller's transaction."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from worker import metrics
from worker.logging import get_logger, redact
from worker.tracking.models import AuditEvent, utcnow

log = get_logger("audit")
INSERT = cast(Table, AuditEvent.__table__).insert()


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
    clean = redact(details)
    # one Core INSERT now, in the caller's transaction: no unit-of-work bookkeeping at flush
    session.connection().execute(
        INSERT,
        {
            "plugin_id": plugin_id,
            "operation_id": operation_id,
            "event": event,
            "actor": actor,
            "details": clean,
            "timestamp": utcnow(),
        },
    )
    log.info(event, plugin_id=plugin_id, operation_id=operation_id, actor=actor, **clean)
    metrics.audit_event(event, clean)

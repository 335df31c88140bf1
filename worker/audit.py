"""Audit events: append-only, redacted, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from worker import metrics
from worker.logging import get_logger, redact
from worker.tracking.models import AuditEvent

log = get_logger("audit")


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
    session.add(
        AuditEvent(
            plugin_id=plugin_id,
            operation_id=operation_id,
            event=event,
            actor=actor,
            details=clean,
        )
    )
    log.info(event, plugin_id=plugin_id, operation_id=operation_id, actor=actor, **clean)
    metrics.audit_event(event, clean)

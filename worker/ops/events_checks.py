"""Doctor checks of the event machinery: disabled webhooks, rotations waiting past grace."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.ops.findings import Finding, error, warning
from worker.rotation.retire import PENDING, aware
from worker.tracking.models import CredentialRetirement, WebhookEndpoint

WEBHOOK_DISABLED = "webhook_disabled"
ROTATION_WAITING = "rotation_waiting"


def findings(
    sessions: sessionmaker[Session], now: datetime, plugin_id: str | None = None
) -> list[Finding]:
    """One finding per disabled endpoint and per login waiting for retirement past its grace."""
    out: list[Finding] = []
    with sessions() as session:
        if plugin_id is None:
            for ep in session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_not(None))
            ):
                out.append(
                    error(
                        None,
                        WEBHOOK_DISABLED,
                        f"webhook endpoint {ep.id} ({ep.url}) is disabled: {ep.disabled_reason}",
                        f"fix the receiver, then `plugin-db webhooks enable {ep.id}` "
                        "(undelivered events are kept and sent in order)",
                    )
                )
        query = select(CredentialRetirement).where(CredentialRetirement.state == PENDING)
        if plugin_id is not None:
            query = query.where(CredentialRetirement.plugin_id == plugin_id)
        for row in session.scalars(query):
            if aware(row.grace_until) < now:
                late = int((now - aware(row.grace_until)).total_seconds() // 60)
                out.append(
                    warning(
                        row.plugin_id,
                        ROTATION_WAITING,
                        f"login {row.login} rotated out by generation {row.generation} is "
                        f"still valid {late} min after its grace period",
                        "check that beat runs `plugin_db.retire_due` and the retire operation "
                        f"(`plugin-db ops --plugin {row.plugin_id}`); `plugin-db retry OP_ID`",
                    )
                )
    return out

"""Doctor checks of the event machinery: disabled webhooks, rotations waiting past grace."""

from __future__ import annotations

from datetime import datetime

from worker.ops.findings import Finding, error, warning
from worker.ops.operations import aware
from worker.ops.rows import Rows, objects

WEBHOOK_DISABLED = "webhook_disabled"
ROTATION_WAITING = "rotation_waiting"
PENDING = "pending"
"""A retirement still to run (``worker.rotation.retire.PENDING``)."""


def findings(rows: Rows, now: datetime, plugin_id: str | None = None) -> list[Finding]:
    """One finding per disabled endpoint and per login waiting for retirement past its grace."""
    out: list[Finding] = []
    if plugin_id is None:
        for ep in objects(
            rows.rows(
                "SELECT id, url, disabled_reason FROM webhook_endpoints "
                "WHERE disabled_at IS NOT NULL ORDER BY id",
                [],
            )
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
    scope, params = ("", []) if plugin_id is None else (" AND plugin_id = ?", [plugin_id])
    found = rows.rows(
        "SELECT plugin_id, login, generation, grace_until FROM credential_retirements "
        f"WHERE state = ?{scope} ORDER BY id",
        [PENDING, *params],
    )
    for row in objects(found):
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

"""Operations that need an operator: stuck past their lease, or failed recently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from worker.ops.findings import Check, Finding, error
from worker.ops.rows import Rows, objects
from worker.settings import Settings
from worker.states import UNFINISHED, OpState

Op = Any
"""An operation row (ORM or plain): the checks read its attributes."""
COLUMNS = "id, plugin_id, kind, state, current_step, lease_owner, lease_expires_at, error, "
COLUMNS += "updated_at, finished_at"
FAILED_WINDOW = timedelta(hours=24)
MAX_ERROR_CHARS = 300


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ago(now: datetime, then: datetime) -> str:
    seconds = int((now - aware(then)).total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


def stuck_reason(op: Op, settings: Settings, now: datetime) -> str | None:
    """Why an unfinished operation counts as stuck, or None while it is in good hands."""
    lease = timedelta(seconds=settings.lease_seconds)
    if op.state == OpState.RUNNING and op.lease_expires_at is not None:
        if aware(op.lease_expires_at) < now:
            return (
                f"running, but the lease of {op.lease_owner or '?'} expired "
                f"{_ago(now, op.lease_expires_at)} ago (its worker is gone)"
            )
        return None
    idle = now - aware(op.updated_at)
    if op.state == OpState.PENDING and idle > 2 * lease:
        return f"pending for {_ago(now, op.updated_at)}: no worker has picked it up"
    waiting = 2 * lease + timedelta(seconds=settings.retry.backoff_max)
    if op.state == OpState.RUNNING and idle > waiting:
        return f"waiting for a retry for {_ago(now, op.updated_at)}: the retry never came"
    return None


def _scoped(plugin_id: str | None) -> tuple[str, list[Any]]:
    """The ``AND plugin_id = ?`` of a plugin's checks (nothing for the whole fleet)."""
    return (" AND plugin_id = ?", [plugin_id]) if plugin_id is not None else ("", [])


def stuck(rows: Rows, settings: Settings, now: datetime, plugin_id: str | None) -> list[Finding]:
    """Pending or running operations nobody is working on."""
    scope, params = _scoped(plugin_id)
    states = sorted(str(s) for s in UNFINISHED)
    marks = ", ".join("?" * len(states))
    ops = objects(
        rows.rows(
            f"SELECT {COLUMNS} FROM lifecycle_operations WHERE state IN ({marks}){scope} "
            "ORDER BY id",
            [*states, *params],
        )
    )
    findings = []
    for op in ops:
        reason = stuck_reason(op, settings, now)
        if reason is not None:
            findings.append(
                error(
                    op.plugin_id,
                    Check.STUCK_OPERATION,
                    f"operation {op.id} ({op.kind}, after step {op.current_step or '-'}) {reason}",
                    "make sure a worker and beat run (`plugin-db worker --beat`): the reconciler "
                    f"requeues it within a lease; `plugin-db op {op.id}` shows its steps",
                )
            )
    return findings


def failed(rows: Rows, now: datetime, plugin_id: str | None) -> list[Finding]:
    """Operations that failed in the last 24 h and were not superseded by a later success."""
    since = now - FAILED_WINDOW
    scope, params = _scoped(plugin_id)
    ops = objects(
        rows.rows(
            f"SELECT {COLUMNS} FROM lifecycle_operations WHERE state = ? AND updated_at >= ?"
            f"{scope} ORDER BY id",
            [OpState.FAILED.value, since, *params],
        )
    )
    if not ops:
        return []
    succeeded = {
        (row["plugin_id"], row["kind"]): row["id"]
        for row in rows.rows(
            "SELECT plugin_id, kind, id FROM lifecycle_operations "
            f"WHERE state = ? AND updated_at >= ?{scope} ORDER BY id",
            [OpState.SUCCEEDED.value, since, *params],
        )
    }
    findings = []
    for op in ops:
        if succeeded.get((op.plugin_id, op.kind), 0) > op.id:
            continue  # a later request of the same kind succeeded
        reason = (op.error or "no error recorded")[:MAX_ERROR_CHARS]
        when = _ago(now, op.finished_at or op.updated_at)
        findings.append(
            error(
                op.plugin_id,
                Check.FAILED_OPERATION,
                f"operation {op.id} ({op.kind}) failed {when} "
                f"ago after step {op.current_step or '-'}: {reason}",
                f"fix the cause, then `plugin-db retry {op.id}` (resumes at the failed step; "
                f"`plugin-db op {op.id}` shows the steps)",
            )
        )
    return findings

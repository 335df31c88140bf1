"""Doctor findings of snapshots and quotas: read-only plugins, and the way back from a
failed migration (the snapshot taken before it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from worker.ops.findings import Finding, error, human_size, warning
from worker.ops.rows import Rows, objects
from worker.states import Kind, OpState

QUOTA_READ_ONLY, RESTORE_POINT = "quota_read_only", "restore_point"
WINDOW = timedelta(hours=24)


def _scoped(plugin_id: str | None) -> tuple[str, list[Any]]:
    return ("", []) if plugin_id is None else (" AND plugin_id = ?", [plugin_id])


def quota_findings(source: Rows, plugin_id: str | None) -> list[Finding]:
    """One error per plugin that quota enforcement made read-only."""
    scope, params = _scoped(plugin_id)
    rows = objects(
        source.rows(
            "SELECT plugin_id, size_bytes, limit_bytes, changed_at FROM plugin_quotas "
            f"WHERE read_only = ?{scope} ORDER BY plugin_id",
            [True, *params],
        )
    )
    return [
        error(
            row.plugin_id,
            QUOTA_READ_ONLY,
            f"over limits.storageMb ({human_size(row.size_bytes)} of "
            f"{human_size(row.limit_bytes)}): its logins are read-only since {row.changed_at}",
            "delete data (then VACUUM FULL on PostgreSQL) or raise limits.storageMb and "
            f"provision again; `plugin-db quotas enforce` makes {row.plugin_id} writable "
            "again below 95 % of the limit",
        )
        for row in rows
    ]


def restore_points(source: Rows, now: datetime, plugin_id: str | None) -> list[Finding]:
    """For each migrate that failed in the last 24 h: the snapshot to go back to."""
    scope, params = _scoped(plugin_id)
    failed = source.rows(
        "SELECT id, plugin_id, finished_at FROM lifecycle_operations "
        f"WHERE state = ? AND kind = ? AND updated_at >= ?{scope} ORDER BY id",
        [OpState.FAILED.value, Kind.MIGRATE.value, now - WINDOW, *params],
    )
    findings = []
    for op in objects(failed):
        found = source.rows(
            "SELECT id, operation_id, reason, created_at FROM plugin_snapshots "
            "WHERE plugin_id = ? AND state = ? AND created_at <= ? ORDER BY id DESC LIMIT 1",
            [op.plugin_id, "ready", op.finished_at or now],
        )
        if found:
            snap = objects(found)[0]
            taken = "taken before it" if snap.operation_id == op.id else f"{snap.reason}"
            findings.append(
                warning(
                    op.plugin_id,
                    RESTORE_POINT,
                    f"migrate operation {op.id} failed; snapshot {snap.id} ({taken}, "
                    f"{snap.created_at:%Y-%m-%d %H:%M}) holds the storage as it was",
                    f"`plugin-db snapshots restore {op.plugin_id} {snap.id} --wait` brings it "
                    "back (data and migration records)",
                )
            )
    return findings

"""Doctor findings of snapshots and quotas: read-only plugins, and the way back from a
failed migration (the snapshot taken before it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.ops.findings import Finding, error, human_size, warning
from worker.states import Kind, OpState
from worker.tracking.models import LifecycleOperation as Op
from worker.tracking.models import PluginQuota, PluginSnapshot

QUOTA_READ_ONLY, RESTORE_POINT = "quota_read_only", "restore_point"
WINDOW = timedelta(hours=24)


def quota_findings(sessions: sessionmaker[Session], plugin_id: str | None) -> list[Finding]:
    """One error per plugin that quota enforcement made read-only."""
    query = select(PluginQuota).where(PluginQuota.read_only.is_(True))
    if plugin_id is not None:
        query = query.where(PluginQuota.plugin_id == plugin_id)
    with sessions() as session:
        rows = list(session.scalars(query.order_by(PluginQuota.plugin_id)))
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


def restore_points(
    sessions: sessionmaker[Session], now: datetime, plugin_id: str | None
) -> list[Finding]:
    """For each migrate that failed in the last 24 h: the snapshot to go back to."""
    query = select(Op).where(
        Op.state == OpState.FAILED.value,
        Op.kind == Kind.MIGRATE.value,
        Op.updated_at >= now - WINDOW,
    )
    if plugin_id is not None:
        query = query.where(Op.plugin_id == plugin_id)
    findings = []
    with sessions() as session:
        for op in session.scalars(query.order_by(Op.id)):
            snap = session.scalars(
                select(PluginSnapshot)
                .where(
                    PluginSnapshot.plugin_id == op.plugin_id,
                    PluginSnapshot.state == "ready",
                    PluginSnapshot.created_at <= (op.finished_at or now),
                )
                .order_by(PluginSnapshot.id.desc())
            ).first()
            if snap is None:
                continue
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

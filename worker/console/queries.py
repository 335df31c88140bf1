"""What the console pages show, read from the tracking tables (never a secret)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.targets import DIMENSIONS, Targets
from worker.placement import state_overrides, usage_of
from worker.tracking.models import (
    AuditEvent,
    LifecycleOperation,
    OutboxEvent,
    PluginDatasource,
    PluginMigration,
    PluginSnapshot,
)

PUBLIC_DESCRIPTOR = ("url", "provider", "mode", "objects", "username", "schema", "database")


def status_counts(session: Session) -> dict[str, int]:
    """Plugins per status."""
    return dict(Counter(session.scalars(select(PluginDatasource.status))))


def plugin(session: Session, plugin_id: str) -> dict[str, Any] | None:
    """Everything the plugin page shows."""
    ds = session.get(PluginDatasource, plugin_id)
    if ds is None:
        return None
    descriptor = {k: v for k, v in (ds.descriptor or {}).items() if k in PUBLIC_DESCRIPTOR}
    migrations = session.scalars(
        select(PluginMigration)
        .where(PluginMigration.plugin_id == plugin_id)
        .order_by(PluginMigration.migration_version)
    ).all()
    ops = session.scalars(
        select(LifecycleOperation)
        .where(LifecycleOperation.plugin_id == plugin_id)
        .order_by(LifecycleOperation.id.desc())
        .limit(50)
    ).all()
    audit = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.plugin_id == plugin_id)
        .order_by(AuditEvent.id.desc())
        .limit(100)
    ).all()
    events = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.plugin_id == plugin_id)
        .order_by(OutboxEvent.id.desc())
        .limit(100)
    ).all()
    snapshots = session.scalars(
        select(PluginSnapshot)
        .where(PluginSnapshot.plugin_id == plugin_id)
        .order_by(PluginSnapshot.id.desc())
        .limit(50)
    ).all()
    return {
        "ds": ds,
        "descriptor": descriptor,
        "snapshots": [snapshot_row(s) for s in snapshots],
        "migrations": migrations,
        "ops": ops,
        "audit": audit,
        "events": events,
    }


def snapshot_row(row: PluginSnapshot) -> dict[str, Any]:
    """What the plugin page shows of a snapshot (never its location or key)."""
    return {
        "id": row.id,
        "reason": row.reason,
        "state": row.state,
        "format": row.format,
        "created": row.created_at,
        "size": row.size_bytes,
        "rows": sum(v for v in (row.row_counts or {}).values() if isinstance(v, int)),
        "expires": row.expires_at,
    }


def targets(session: Session, configured: Targets) -> list[dict[str, Any]]:
    """Per target: plugins by status, and usage against capacity per dimension."""
    statuses: dict[str, Counter[str]] = {}
    ds = PluginDatasource
    for name, provider, status in session.execute(select(ds.target, ds.provider, ds.status)):
        statuses.setdefault(name or provider, Counter())[status] += 1
    names = sorted(set(configured.targets) | set(statuses))
    usage = usage_of(session, names)
    overrides = state_overrides(session)
    found = []
    for name in names:
        target = configured.targets.get(name)
        capacity = dict(target.capacity) if target else {}
        used = usage.get(name, {})
        found.append(
            {
                "name": name,
                "driver": target.driver if target else "not configured",
                "state": overrides.get(name) or (target.state if target else "unknown"),
                "statuses": dict(statuses.get(name, {})),
                "dimensions": [dimension(d, used.get(d, 0), capacity.get(d)) for d in DIMENSIONS],
            }
        )
    return found


def dimension(name: str, used: int, capacity: int | None) -> dict[str, Any]:
    """One bar of the targets chart: used of capacity (unbounded: no share)."""
    share = min(used / capacity, 1.0) if capacity else None
    return {"name": name, "used": used, "capacity": capacity, "share": share}


def operations(session: Session, limit: int = 50) -> list[LifecycleOperation]:
    """The most recently active operations (a retried one comes back to the top)."""
    op = LifecycleOperation
    query = select(op).order_by(op.updated_at.desc(), op.id.desc()).limit(limit)
    return list(session.scalars(query))

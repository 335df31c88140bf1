"""What the console pages show, read from the tracking tables (never a secret)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.tracking.models import (
    AuditEvent,
    LifecycleOperation,
    OutboxEvent,
    PluginDatasource,
    PluginMigration,
)

SORTS = ("plugin", "mode", "provider", "status", "updated")
PUBLIC_DESCRIPTOR = ("url", "provider", "mode", "objects", "username", "schema", "database")


@dataclass(frozen=True)
class FleetRow:
    """One line of the fleet table."""

    plugin_id: str
    mode: str
    provider: str
    status: str
    limit_mb: int | None
    connections: int | None
    last_migration: str | None
    next_rotation: str | None
    updated: str


def _limits(ds: PluginDatasource) -> dict[str, Any]:
    database = (ds.manifest or {}).get("sovereign", {}).get("database", {})
    limits = database.get("limits") or {}
    return limits if isinstance(limits, dict) else {}


def fleet(session: Session, status: str | None, query: str | None, sort: str) -> list[FleetRow]:
    """Every plugin (optionally of one status, or whose id contains ``query``), sorted."""
    last = dict(
        session.execute(
            select(PluginMigration.plugin_id, func.max(PluginMigration.migration_version))
            .where(PluginMigration.status == "completed")
            .group_by(PluginMigration.plugin_id)
        ).all()
    )
    rows = []
    for ds in session.scalars(select(PluginDatasource)):
        if (status and ds.status != status) or (query and query not in ds.plugin_id):
            continue
        limits = _limits(ds)
        rows.append(
            FleetRow(
                plugin_id=ds.plugin_id,
                mode=ds.mode,
                provider=ds.target or ds.provider,
                status=ds.status,
                limit_mb=limits.get("storageMb"),
                connections=limits.get("connections"),
                last_migration=last.get(ds.plugin_id),
                next_rotation=ds.next_rotation_at.isoformat() if ds.next_rotation_at else None,
                updated=ds.updated_at.isoformat() if ds.updated_at else "",
            )
        )
    key = {"plugin": "plugin_id", "updated": "updated"}.get(sort, sort)
    return sorted(rows, key=lambda r: (str(getattr(r, key, "")), r.plugin_id))


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
    return {
        "ds": ds,
        "descriptor": descriptor,
        "migrations": migrations,
        "ops": ops,
        "audit": audit,
        "events": events,
    }


def targets(session: Session) -> list[dict[str, Any]]:
    """Per target: plugins by status."""
    found: dict[str, Counter[str]] = {}
    ds = PluginDatasource
    for target, provider, status in session.execute(select(ds.target, ds.provider, ds.status)):
        found.setdefault(target or provider, Counter())[status] += 1
    most = max((sum(c.values()) for c in found.values()), default=1)
    return [
        {
            "name": name,
            "total": sum(c.values()),
            "statuses": dict(c),
            "share": sum(c.values()) / most,
        }
        for name, c in sorted(found.items())
    ]


def operations(session: Session, limit: int = 50) -> list[LifecycleOperation]:
    """The most recently active operations (a retried one comes back to the top)."""
    op = LifecycleOperation
    query = select(op).order_by(op.updated_at.desc(), op.id.desc()).limit(limit)
    return list(session.scalars(query))

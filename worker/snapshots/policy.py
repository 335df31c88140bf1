"""When snapshots are taken and how long they are kept.

* Before a migration batch, by ``snapshots.beforeMigrate``: ``always``, ``destructive`` (the
  default: when the linter finds a destructive statement) or ``never``.
* Before a purge, unless the request says ``snapshot: false``.
* Retention (beat, hourly): a ready snapshot goes when it is past ``keepDays`` or not among
  the newest ``keep``, except the newest snapshot taken before each migration that is still
  applied (the way back from that migration) is never deleted.

A step that is re-run after a crash reuses the snapshot its operation already took.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import StorageState
from worker.errors import SnapshotError
from worker.lifecycle.context import StepContext
from worker.lifecycle.requests import TeardownRequest
from worker.manifest import SnapshotPolicy, Snapshots, parse_manifest
from worker.settings import Settings
from worker.snapshots.service import READY, Target
from worker.snapshots.service import Snapshots as SnapshotService
from worker.tracking.models import PluginDatasource, PluginMigration, PluginSnapshot, utcnow


def target_of(ctx: StepContext) -> Target:
    """The snapshot target of a running operation."""
    keep_days = ctx.manifest.database.snapshots.keep_days
    return Target(ctx.plugin_id, ctx.provider, ctx.spec, keep_days)


def _taken_by(ctx: StepContext, reason: str) -> int | None:
    with ctx.store.sessions() as session:
        return session.scalars(
            select(PluginSnapshot.id).where(
                PluginSnapshot.operation_id == ctx.op.id,
                PluginSnapshot.reason == reason,
                PluginSnapshot.state == READY,
            )
        ).first()


def take_for(ctx: StepContext, reason: str) -> int:
    """The operation's snapshot for ``reason``: the one already taken, else a new one."""
    found = _taken_by(ctx, reason)
    if found is None:
        service = SnapshotService(ctx.settings, ctx.store.sessions)
        found = service.take(target_of(ctx), reason, operation_id=ctx.op.id, actor=ctx.actor).id
    ctx.result["snapshot_id"] = found
    return found


def before_migrate(ctx: StepContext, destructive: bool) -> int | None:
    """The review's snapshot hook (:mod:`worker.migrations.review`)."""
    policy = ctx.manifest.database.snapshots.before_migrate
    wanted = policy is SnapshotPolicy.ALWAYS or (
        policy is SnapshotPolicy.DESTRUCTIVE and destructive
    )
    if not wanted or ctx.provider.snapshot_format is None:
        return None
    return take_for(ctx, "before_migrate")


def before_purge(ctx: StepContext) -> tuple[str, dict[str, object]]:
    """(step status, detail) of the snapshot taken before a purge."""
    if isinstance(ctx.request, TeardownRequest) and not ctx.request.snapshot:
        return "skipped", {"reason": "the request says snapshot: false"}
    if ctx.provider.snapshot_format is None:
        return "skipped", {"reason": f"{ctx.provider.name} storage cannot be snapshotted"}
    state = ctx.provider.state(ctx.spec)
    if state is StorageState.ABSENT:
        return "skipped", {"reason": "no storage left to snapshot"}
    if state is StorageState.ARCHIVED and not ctx.provider.snapshots_archived:
        reason = f"archived {ctx.provider.name} storage is not snapshotted; restore it first"
        return "skipped", {"reason": reason}
    try:
        return "done", {"snapshot_id": take_for(ctx, "before_purge")}
    except SnapshotError as exc:
        raise SnapshotError(
            f"{exc}; nothing was purged: fix the storage, or purge without a snapshot "
            "(request snapshot: false, `plugin-db teardown ID --purge --no-snapshot`)"
        ) from exc


def covers_destructive(policy: Snapshots, snapshot_format: str | None) -> bool:
    """Whether destructive SQL will be preceded by a snapshot (acceptance lets it through)."""
    return policy.before_migrate is not SnapshotPolicy.NEVER and snapshot_format is not None


# -- retention -------------------------------------------------------------------------------


def doomed(
    rows: Sequence[PluginSnapshot], applied: set[str], keep: int, keep_days: int
) -> list[PluginSnapshot]:
    """Ready snapshots retention deletes (``rows`` newest first); pure."""
    ready = [r for r in rows if r.state == READY]
    protected = set()
    for version in applied:
        before = [r for r in ready if version not in {e["version"] for e in r.ledger}]
        if before:
            protected.add(max(r.id for r in before))
    now = utcnow()
    return [
        r
        for rank, r in enumerate(ready)
        if r.id not in protected
        and (rank >= keep or (r.expires_at is not None and _aware(r.expires_at) < now))
    ]


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def apply_retention(settings: Settings, sessions: sessionmaker[Session]) -> dict[str, list[int]]:
    """Delete what retention allows, plugin by plugin; returns the deleted ids by plugin."""
    service = SnapshotService(settings, sessions)
    deleted: dict[str, list[int]] = {}
    with sessions() as session:
        plugins = set(session.scalars(select(PluginSnapshot.plugin_id).distinct()))
    for plugin_id in sorted(plugins):
        with sessions() as session:
            ds = session.get(PluginDatasource, plugin_id)
            policy = (
                parse_manifest(ds.manifest).database.snapshots
                if ds is not None and ds.manifest
                else Snapshots()
            )
            applied = set(
                session.scalars(
                    select(PluginMigration.migration_version).where(
                        PluginMigration.plugin_id == plugin_id,
                        PluginMigration.status == "completed",
                    )
                )
            )
        rows = service.listing(plugin_id)
        for row in doomed(rows, applied, policy.keep, policy.keep_days):
            service.delete(row, actor="schedule")
            deleted.setdefault(plugin_id, []).append(row.id)
    return deleted


def tracked_target(settings: Settings, sessions: sessionmaker[Session], plugin_id: str) -> Target:
    """The snapshot target of a provisioned plugin, from its datasource and manifest."""
    from providers.registry import get_provider_class
    from worker.errors import RequestRejected
    from worker.lifecycle.context import spec_for
    from worker.migrations.gate import plugin_manifest

    with sessions() as session:
        ds = session.get(PluginDatasource, plugin_id)
    if ds is None or ds.status == "deleted":
        raise RequestRejected("not provisioned", [f"plugin_id: {plugin_id} has no storage"])
    manifest = plugin_manifest(settings.plugins_root, plugin_id, ds)
    if manifest is None:
        raise RequestRejected("no manifest", [f"{plugin_id}: no plugin.json and none stored"])
    provider = get_provider_class(ds.provider).from_settings(settings)
    return Target(plugin_id, provider, spec_for(manifest), manifest.database.snapshots.keep_days)

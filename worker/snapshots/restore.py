"""Restore a plugin to one of its snapshots: a lifecycle operation of its own.

Steps (each idempotent; a killed worker resumes after the last recorded one):

1. ``begin_restore``: the snapshot must be ``ready`` and of this plugin's driver; the
   datasource becomes ``migrating``.
2. ``snapshot_before_restore``: a snapshot of the storage as it is (reason ``before_restore``).
3. ``load_side``: the snapshot file is checked (SHA-256, then every frame's tag) while it is
   loaded into a fresh side object (a schema, database or file); a re-run starts it afresh.
4. ``verify_side``: the side object's rows per table must equal the counts recorded with the
   dump; otherwise the side object is dropped and the restore fails.
5. ``swap_in``: the driver swaps the side object in atomically and keeps the replaced storage
   archived (so the restore itself can be undone); a re-run after the swap changes nothing.
6. ``restore_ledger``: ``plugin_migrations`` return to the snapshot's ledger (versions applied
   after it become ``rolled_back``); the datasource is ``ready`` again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker import audit
from worker.errors import SnapshotError
from worker.events.outbox import emit
from worker.lifecycle.context import StepContext
from worker.lifecycle.datasource import set_status
from worker.lifecycle.requests import RestoreSnapshotRequest
from worker.lifecycle.steps import Outcome, Step
from worker.migrations import gate
from worker.snapshots.policy import take_for
from worker.snapshots.service import Snapshots
from worker.states import DsStatus
from worker.tracking.models import PluginMigration, PluginSnapshot, utcnow


def _snapshot(ctx: StepContext) -> PluginSnapshot:
    request = ctx.request
    assert isinstance(request, RestoreSnapshotRequest)
    row = Snapshots(ctx.settings, ctx.store.sessions).get(ctx.plugin_id, request.snapshot_id)
    if row.provider != ctx.provider.name:
        raise SnapshotError(
            f"snapshot {row.id} is of {row.provider} storage; {ctx.plugin_id} uses "
            f"{ctx.provider.name}"
        )
    return row


def begin_restore(ctx: StepContext) -> Outcome:
    """Check the snapshot; the datasource becomes ``migrating``."""
    row = _snapshot(ctx)
    versions = [e["version"] for e in row.ledger]
    return Outcome(
        detail={"snapshot_id": row.id, "ledger": versions},
        apply=lambda s: set_status(s, ctx, DsStatus.MIGRATING),
    )


def snapshot_before_restore(ctx: StepContext) -> Outcome:
    """The storage as it is now, so that this restore can be undone from a snapshot too."""
    return Outcome(detail={"snapshot_id": take_for(ctx, "before_restore")})


def load_side(ctx: StepContext) -> Outcome:
    """Load the checked snapshot into a fresh side object."""
    row = _snapshot(ctx)
    chunks = Snapshots(ctx.settings, ctx.store.sessions).read(row)
    try:
        ctx.provider.load_side(ctx.spec, chunks)
    except BaseException:
        ctx.provider.drop_side(ctx.spec)
        raise
    return Outcome(detail={"snapshot_id": row.id})


def verify_side(ctx: StepContext) -> Outcome:
    """Rows per table of the side object against the counts taken with the dump."""
    row = _snapshot(ctx)
    found = ctx.provider.side_row_counts(ctx.spec)
    if found is None:  # already swapped in by a run that was killed before recording it
        return Outcome(status="skipped", detail={"reason": "already swapped in"})
    if found != dict(row.row_counts):
        ctx.provider.drop_side(ctx.spec)
        raise SnapshotError(
            f"restored rows do not match snapshot {row.id}: expected {row.row_counts}, "
            f"found {found}; the side object was dropped and nothing was changed"
        )
    return Outcome(detail={"tables": len(found), "rows": sum(found.values())})


def swap_in(ctx: StepContext) -> Outcome:
    """Swap the side object in; the replaced storage stays archived."""
    return Outcome(detail={"replaced": ctx.provider.swap_side(ctx.spec)})


def restore_ledger(ctx: StepContext) -> Outcome:
    """Migration records return to the snapshot's ledger; the datasource is ready."""
    row = _snapshot(ctx)
    ledger = {e["version"]: e.get("checksum") for e in row.ledger}
    ctx.result.update({"snapshot_id": row.id, "ledger": sorted(ledger)})

    def apply(session: Session) -> None:
        now = utcnow()
        rows = session.scalars(
            select(PluginMigration).where(PluginMigration.plugin_id == ctx.plugin_id)
        )
        undone = []
        for migration in rows:
            if migration.migration_version in ledger:
                migration.status, migration.error_message = "completed", None
            elif migration.status != "rolled_back":
                migration.status, migration.rolled_back_at = "rolled_back", now
                undone.append(migration.migration_version)
        gate.forget_in(session, ctx.plugin_id)
        set_status(session, ctx, DsStatus.READY)
        emit(
            session,
            type="snapshot.restored",
            plugin_id=ctx.plugin_id,
            operation_id=ctx.op.id,
            data={"snapshot_id": row.id, "ledger": sorted(ledger)},
        )
        audit.record(
            session,
            "snapshot_restored",
            plugin_id=ctx.plugin_id,
            operation_id=ctx.op.id,
            actor=ctx.actor,
            snapshot_id=row.id,
            ledger=sorted(ledger),
            undone=sorted(undone),
        )

    return Outcome(detail={"ledger": sorted(ledger)}, apply=apply)


PLAN = (
    Step("begin_restore", begin_restore),
    Step("snapshot_before_restore", snapshot_before_restore),
    Step("load_side", load_side),
    Step("verify_side", verify_side),
    Step("swap_in", swap_in),
    Step("restore_ledger", restore_ledger),
)

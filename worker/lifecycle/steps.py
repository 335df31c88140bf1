"""Each operation kind as an ordered plan of idempotent steps.

A step talks to the provider (idempotent by contract) and returns an :class:`Outcome` whose
``apply`` callback makes the tracking changes; the engine commits those together with the
step's completion and its audit event, so a redelivered message resumes after the last
completed step and never repeats one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from providers.base import StorageState
from worker import placement, secrets
from worker.credentials import SLOTS, Credentials, other_slot
from worker.errors import ProviderError
from worker.lifecycle.context import UNREAD, StepContext
from worker.lifecycle.datasource import set_status, write
from worker.lifecycle.outcome import Outcome, Step
from worker.lifecycle.requests import MigrateRequest
from worker.migrations import apply as migrations
from worker.migrations import entrypoint, gate
from worker.migrations.files import checksum_in
from worker.port import Change, PluginPort
from worker.states import DsStatus, Kind
from worker.tracking.models import PluginMigration, PluginSecret, utcnow

__all__ = ["Outcome", "Step"]


def status_step(target: DsStatus, **values: Any) -> Callable[[StepContext], Outcome]:
    def run(ctx: StepContext) -> Outcome:
        return Outcome(apply=lambda s: set_status(s, ctx, target, **values))

    return run


def begin_provision(ctx: StepContext) -> Outcome:
    """Record the datasource as provisioning, refusing an archived plugin."""
    manifest = ctx.manifest.model_dump(mode="json", by_alias=True)
    db = ctx.manifest.database

    def apply(session: Session) -> None:
        ds = ctx.datasource(session)
        if ds is not None and ds.status == DsStatus.ARCHIVED:
            raise ProviderError(
                f"{ctx.plugin_id} is archived: restore it (plugin-db restore {ctx.plugin_id}) "
                "or purge it (plugin-db teardown --purge) before provisioning again"
            )
        if ds is not None and ds.status == DsStatus.DELETED:
            ds.bump_generation()  # new storage where a purged one was
        set_status(
            session,
            ctx,
            DsStatus.PROVISIONING,
            ds,
            mode=db.mode.value,
            provider=ctx.provider.name,
            target=ctx.target,
            manifest=manifest,
            descriptor=ctx.provider.describe(ctx.spec).to_json(),
        )

    return Outcome(apply=apply)


def create_storage(ctx: StepContext) -> Outcome:
    """Create storage and the first login; a retry reuses the stored password."""
    creds = ctx.credentials() or Credentials()
    password = None
    if ctx.provider.issues_credentials:
        password = creds.passwords.get(SLOTS[0]) or secrets.generate_password()
        creds.issue(SLOTS[0], password)
        ctx.remember_credentials(creds)
    ctx.provider.provision(ctx.spec, password)
    descriptor = ctx.provider.describe(ctx.spec, creds.in_use)
    from worker.quotas import apply_timeouts

    unapplied = apply_timeouts(ctx.provider, ctx.spec)

    def apply(session: Session) -> None:
        ds = ctx.datasource(session)
        assert ds is not None
        values: dict[str, Any] = {"descriptor": descriptor.to_json()}
        if password is not None:
            ref = ds.secrets_ref
            values["secrets_ref"] = secrets.store_credentials(
                session, ctx.box, ctx.plugin_id, ref, creds
            )
        write(session, ds, **values)

    detail = {"url": descriptor.url, **({"timeouts_not_applied": unapplied} if unapplied else {})}
    return Outcome(detail=detail, apply=apply)


def apply_migrations(ctx: StepContext) -> Outcome:
    """Run pending migrations (or to the requested target); see worker.migrations.gate."""
    request = ctx.request
    target = request.target if isinstance(request, MigrateRequest) else None
    force = request.force if isinstance(request, MigrateRequest) else False
    port = ctx.port()
    files = migrations.load_files(port)
    if not files and target is None:
        return Outcome(status="skipped", detail={"reason": "the plugin has no migration files"})
    is_migrate = ctx.op.kind == Kind.MIGRATE
    stored = _stored_checksum(ctx, port) if is_migrate else None  # provision resets it
    if is_migrate and target is None and not force and gate.up_to_date(files, stored):
        return Outcome(status="skipped", detail={"reason": "up to date"})
    gate.check_dependencies(port)
    # the stored checksum is dropped before the first version runs (with the lint record)
    first = gate.forgetting(port) if stored is not None else None
    from worker.snapshots.policy import before_migrate

    def snapshot(_port: object, destructive: bool) -> int | None:
        return before_migrate(ctx, destructive)

    later: list[Change] = []  # the last versions' records commit with the step
    detail = migrations.migrate(
        port, target, force, False, snapshot=snapshot, files=files, first=first, later=later
    )
    if target is None:
        later.append(gate.remember(port, files))
    return Outcome(detail=detail, apply=gate.all_of(later))


def _stored_checksum(ctx: StepContext, port: PluginPort) -> str | None:
    """The files checksum of the last successful migrate: from the row the run carries (read
    under its lease) when it has one, else read now."""
    if ctx.row is UNREAD or ctx.row is None:
        return gate.stored_checksum(port)
    return checksum_in(ctx.row.descriptor)


def run_entry_point(ctx: StepContext) -> Outcome:
    """The plugin's own migration runner, when entry points are enabled."""
    if not ctx.settings.enable_entry_points:
        return Outcome(status="skipped", detail={"reason": "entry points disabled"})
    detail, record = entrypoint.run(ctx.port())
    return Outcome(detail=detail, apply=record)


def entry_point_steps(ctx: StepContext) -> tuple[Step, ...]:
    declared = ctx.manifest.database.migrations.entry_point is not None
    return (Step("run_entry_point", run_entry_point),) if declared else ()


def preview_migrations(ctx: StepContext) -> Outcome:
    """Dry run: the exact SQL that would run, changing nothing."""
    request = ctx.request
    assert isinstance(request, MigrateRequest)
    detail = migrations.migrate(ctx.port(), request.target, request.force, dry_run=True)
    ctx.result.update(detail)
    return Outcome(detail={"versions": [s["version"] for s in detail["sql"]]})


def activate(ctx: StepContext) -> Outcome:
    """Mark the datasource ready (and schedule its next credential rotation)."""
    rotation = ctx.manifest.database.rotation
    values: dict[str, Any] = {}
    if rotation and ctx.provider.issues_credentials and ctx.op.kind != Kind.MIGRATE:
        values["next_rotation_at"] = utcnow() + timedelta(days=rotation.interval_days)
    return Outcome(apply=lambda s: set_status(s, ctx, DsStatus.READY, archived_at=None, **values))


def rotate_credentials(ctx: StepContext) -> Outcome:
    """Set a fresh password on the inactive login, prove it, then make it the active one."""
    if not ctx.provider.issues_credentials:
        reason = ctx.provider.unsupported.get("rotate", "not applicable")
        return Outcome(status="skipped", detail={"reason": f"not applicable: {reason}"})
    creds = ctx.credentials()
    if creds is None:
        raise ProviderError(f"{ctx.plugin_id} has no stored credentials; provision it first")
    slot = other_slot(creds.in_use)
    password = secrets.generate_password()
    descriptor = ctx.provider.rotate(ctx.spec, slot, password)
    creds.issue(slot, password)
    creds.switch_to(slot)
    rotation = ctx.manifest.database.rotation

    def apply(session: Session) -> None:
        ds = set_status(
            session, ctx, DsStatus.READY, descriptor=descriptor.to_json(), rotated_at=utcnow()
        )
        ref = ds.secrets_ref
        ds.secrets_ref = secrets.store_credentials(session, ctx.box, ctx.plugin_id, ref, creds)
        ds.bump_generation()
        if rotation:
            ds.next_rotation_at = utcnow() + timedelta(days=rotation.interval_days)

    return Outcome(detail={"active_login": descriptor.username, "slot": slot}, apply=apply)


def archive_storage(ctx: StepContext) -> Outcome:
    """Archive: storage unreachable, data kept and restorable."""
    ctx.provider.archive(ctx.spec)
    return Outcome(apply=lambda s: set_status(s, ctx, DsStatus.ARCHIVED, archived_at=utcnow()))


def purge_storage(ctx: StepContext) -> Outcome:
    """Delete storage and logins; the row is marked deleted only after they are gone."""
    ctx.provider.discard_restore_objects(ctx.spec)
    ctx.provider.purge(ctx.spec)
    if ctx.provider.state(ctx.spec) is not StorageState.ABSENT:
        raise ProviderError(f"purge of {ctx.plugin_id} left objects behind")

    def apply(session: Session) -> None:
        ds = set_status(session, ctx, DsStatus.DELETED, secrets_ref=None, next_rotation_at=None)
        session.execute(delete(PluginSecret).where(PluginSecret.plugin_id == ctx.plugin_id))
        session.execute(delete(PluginMigration).where(PluginMigration.plugin_id == ctx.plugin_id))
        ds.descriptor = {**ds.descriptor, "url": None}
        placement.release(session, ctx.plugin_id)  # its room on the target is free again

    return Outcome(apply=apply)


def snapshot_before_purge(ctx: StepContext) -> Outcome:
    """A snapshot of the storage before it goes (unless the request says snapshot: false)."""
    from worker.snapshots.policy import before_purge

    status, detail = before_purge(ctx)
    return Outcome("done" if status == "done" else "skipped", detail)


def take_snapshot(ctx: StepContext) -> Outcome:
    """A snapshot on demand (``POST /api/plugins/{id}/snapshots``, task plugin_db.snapshot)."""
    from worker.snapshots.policy import take_for

    return Outcome(detail={"snapshot_id": take_for(ctx, "manual")})


def restore_storage(ctx: StepContext) -> Outcome:
    """Bring archived storage back."""
    ctx.provider.restore(ctx.spec)

    def apply(session: Session) -> None:
        ds = ctx.datasource(session)
        if ds is not None:
            ds.bump_generation()  # the storage is back where hosts must reconnect

    return Outcome(apply=apply)

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
from worker.lifecycle import relocate
from worker.lifecycle.context import StepContext
from worker.lifecycle.outcome import Outcome, Step
from worker.lifecycle.requests import MigrateRequest, TeardownRequest
from worker.lifecycle.schema_steps import (
    activate_schema,
    apply_schema,
    deactivate_schema,
    validate_schema,
)
from worker.migrations import apply as migrations
from worker.migrations import entrypoint, gate
from worker.states import DsStatus, Kind, check_ds
from worker.tracking.models import PluginDatasource, PluginMigration, PluginSecret, utcnow

__all__ = ["FAILURE_STATUS", "Outcome", "Step", "plan_for", "set_status"]


def set_status(
    session: Session, ctx: StepContext, status: DsStatus, **values: Any
) -> PluginDatasource:
    """Move the plugin's datasource along its state machine (creating the row if needed)."""
    ds = ctx.datasource(session)
    check_ds(DsStatus(ds.status) if ds else None, status)
    if ds is None:
        ds = PluginDatasource(plugin_id=ctx.plugin_id)
        session.add(ds)
    ds.status = status.value
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def _status(target: DsStatus, **values: Any) -> Callable[[StepContext], Outcome]:
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
        ds.descriptor = descriptor.to_json()
        if password is not None:
            ref = ds.secrets_ref
            ds.secrets_ref = secrets.store_credentials(session, ctx.box, ctx.plugin_id, ref, creds)

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
    stored = gate.stored_checksum(port) if is_migrate else None  # provision resets it
    if is_migrate and target is None and not force and gate.up_to_date(files, stored):
        return Outcome(status="skipped", detail={"reason": "up to date"})
    gate.check_dependencies(port)
    if stored is not None:
        gate.forget(port)
    from worker.snapshots.policy import before_migrate

    def snapshot(_port: object, destructive: bool) -> int | None:
        return before_migrate(ctx, destructive)

    detail = migrations.migrate(port, target, force, dry_run=False, snapshot=snapshot)
    return Outcome(detail=detail, apply=gate.remember(port, files) if target is None else None)


def run_entry_point(ctx: StepContext) -> Outcome:
    """The plugin's own migration runner, when entry points are enabled."""
    if not ctx.settings.enable_entry_points:
        return Outcome(status="skipped", detail={"reason": "entry points disabled"})
    detail, record = entrypoint.run(ctx.port())
    return Outcome(detail=detail, apply=record)


def _entry_point_steps(ctx: StepContext) -> tuple[Step, ...]:
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


def plan_for(ctx: StepContext) -> tuple[Step, ...]:  # noqa: PLR0911 - one branch per kind
    """The ordered steps of the operation in ``ctx``."""
    kind, request = Kind(ctx.op.kind), ctx.request
    if kind is Kind.PROVISION:
        return (
            Step("begin_provision", begin_provision),
            Step("create_storage", create_storage),
            Step("apply_migrations", apply_migrations),
            *_entry_point_steps(ctx),
            Step("activate", activate),
        )
    if kind is Kind.MIGRATE:
        if isinstance(request, MigrateRequest) and request.dry_run:
            return (Step("preview_migrations", preview_migrations),)
        return (
            Step("begin_migrate", _status(DsStatus.MIGRATING)),
            Step("apply_migrations", apply_migrations),
            *_entry_point_steps(ctx),
            Step("activate", activate),
        )
    if kind is Kind.ROTATE:
        from worker.rotation import retire  # it builds on this module

        begin = (
            ()
            if not ctx.provider.issues_credentials
            else (
                Step("retire_previous", retire.retire_previous),
                Step("begin_rotate", _status(DsStatus.ROTATING)),
            )
        )
        return (*begin, Step("rotate_credentials", rotate_credentials))
    if kind is Kind.RETIRE:
        from worker.rotation import retire

        return (Step("retire_login", retire.retire_login),)
    if kind is Kind.TEARDOWN:
        purge = isinstance(request, TeardownRequest) and request.purge
        return (
            (
                Step("snapshot_before_purge", snapshot_before_purge),
                Step("purge_storage", purge_storage),
            )
            if purge
            else (Step("archive_storage", archive_storage),)
        )
    if kind is Kind.RESTORE:
        from worker.rotation import retire

        keep = (
            (Step("keep_retired", retire.keep_retired),) if ctx.provider.issues_credentials else ()
        )
        return (Step("restore_storage", restore_storage), *keep, Step("activate", activate))
    if kind is Kind.REGISTER_SCHEMA:
        return (
            Step("validate_schema", validate_schema),
            Step("apply_schema", apply_schema),
            Step("activate_schema", activate_schema),
        )
    if kind is Kind.UNREGISTER_SCHEMA:
        return (Step("deactivate_schema", deactivate_schema),)
    if kind is Kind.RELOCATE:
        return relocation_plan(ctx)
    if kind is Kind.SNAPSHOT:
        return (Step("take_snapshot", take_snapshot),)
    if kind is Kind.RESTORE_SNAPSHOT:
        from worker.snapshots.restore import PLAN

        return PLAN
    raise ProviderError(f"operation kind {kind.value} has no plan")


def relocation_plan(ctx: StepContext) -> tuple[Step, ...]:
    """Reserve, provision, snapshot, freeze, copy, verify, switch, archive (lifecycle.relocate)."""
    assert ctx.targets is not None
    moves = relocate.Relocation(ctx.targets)

    def plain(run: Callable[[StepContext], dict[str, Any]]) -> Callable[[StepContext], Outcome]:
        return lambda c: Outcome(detail=run(c))

    def status(run: Callable[[StepContext], Any]) -> Callable[[StepContext], Outcome]:
        def step(c: StepContext) -> Outcome:
            state, detail = run(c)
            return Outcome(state, detail)

        return step

    def applied(run: Callable[[StepContext], Any]) -> Callable[[StepContext], Outcome]:
        def step(c: StepContext) -> Outcome:
            detail, apply = run(c)
            return Outcome(detail=detail, apply=apply)

        return step

    return (
        Step("reserve_destination", plain(moves.reserve_destination)),
        Step("provision_destination", plain(moves.provision_destination)),
        Step("snapshot_source", status(moves.snapshot_source)),
        Step("freeze_source", plain(moves.freeze_source)),
        Step("copy_data", plain(moves.copy_data)),
        Step("verify_copy", plain(moves.verify)),
        Step("switch_datasource", applied(moves.switch)),
        Step("archive_source", applied(moves.archive_source)),
    )


FAILURE_STATUS: dict[Kind, DsStatus] = {
    Kind.PROVISION: DsStatus.FAILED,
    Kind.MIGRATE: DsStatus.FAILED,
    Kind.ROTATE: DsStatus.READY,  # the active credential is untouched by a failed rotation
    Kind.TEARDOWN: DsStatus.FAILED,
    Kind.RESTORE: DsStatus.FAILED,
    Kind.RELOCATE: DsStatus.READY,  # the source stays (or is again) the plugin's storage
    Kind.RESTORE_SNAPSHOT: DsStatus.FAILED,
}

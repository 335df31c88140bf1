"""Which steps each operation kind runs, in order, and the datasource status a failure leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from worker.lifecycle.steps import (
    activate,
    apply_migrations,
    archive_storage,
    begin_provision,
    create_storage,
    entry_point_steps,
    preview_migrations,
    purge_storage,
    restore_storage,
    rotate_credentials,
    snapshot_before_purge,
    status_step,
    take_snapshot,
)
from worker.states import DsStatus, Kind

__all__ = ["FAILURE_STATUS", "plan_for"]


def plan_for(ctx: StepContext) -> tuple[Step, ...]:  # noqa: PLR0911 - one branch per kind
    """The ordered steps of the operation in ``ctx``."""
    kind, request = Kind(ctx.op.kind), ctx.request
    if kind is Kind.PROVISION:
        return (
            Step("begin_provision", begin_provision),
            Step("create_storage", create_storage),
            Step("apply_migrations", apply_migrations),
            *entry_point_steps(ctx),
            Step("activate", activate),
        )
    if kind is Kind.MIGRATE:
        if isinstance(request, MigrateRequest) and request.dry_run:
            return (Step("preview_migrations", preview_migrations),)
        return (
            Step("begin_migrate", status_step(DsStatus.MIGRATING)),
            Step("apply_migrations", apply_migrations),
            *entry_point_steps(ctx),
            Step("activate", activate),
        )
    if kind is Kind.ROTATE:
        from worker.rotation import retire  # it builds on this module

        begin = (
            ()
            if not ctx.provider.issues_credentials
            else (
                Step("retire_previous", retire.retire_previous),
                Step("begin_rotate", status_step(DsStatus.ROTATING)),
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

"""Which lifecycle step announces which event; called inside the step's own transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from worker.events.outbox import emit
from worker.states import DsStatus, Kind
from worker.tracking.models import LifecycleOperation, PluginDatasource

if TYPE_CHECKING:
    from worker.lifecycle.context import StepContext

_STEP_EVENTS: dict[tuple[str, str], str] = {
    (Kind.PROVISION.value, "activate"): "datasource.ready",
    (Kind.RESTORE.value, "activate"): "datasource.restored",
    (Kind.TEARDOWN.value, "archive_storage"): "datasource.archived",
    (Kind.TEARDOWN.value, "purge_storage"): "datasource.purged",
    (Kind.ROTATE.value, "rotate_credentials"): "credentials.rotated",
    (Kind.REGISTER_SCHEMA.value, "activate_schema"): "schema.registered",
    (Kind.RELOCATE.value, "switch_datasource"): "datasource.relocated",
}


def generation(session: Session, plugin_id: str) -> int | None:
    """The plugin's connection generation as this transaction sees it."""
    ds = session.get(PluginDatasource, plugin_id)
    value = getattr(ds, "generation", None) if ds is not None else None
    return value if isinstance(value, int) else None


def after_step(
    session: Session, ctx: StepContext, step: str, status: str, detail: dict[str, Any]
) -> None:
    """Events (and the pending retirement of a rotated-out login) for a completed step."""
    if status != "done":
        return
    common: dict[str, Any] = {"plugin_id": ctx.plugin_id, "operation_id": ctx.op.id}
    if step == "apply_migrations":
        for key, kind in (
            ("applied", "migration.applied"),
            ("rolled_back", "migration.rolled_back"),
        ):
            if detail.get(key):
                gen = generation(session, ctx.plugin_id)
                emit(session, type=kind, generation=gen, data={"versions": detail[key]}, **common)
        return
    event = _STEP_EVENTS.get((ctx.op.kind, step))
    if event is None:
        return  # no event: the generation is not even read
    gen = generation(session, ctx.plugin_id)
    data: dict[str, Any] = {"provider": ctx.provider.name}
    if event in ("credentials.rotated", "datasource.purged"):
        from worker.rotation import retire

        if event == "datasource.purged":
            retire.drop_pending(session, ctx.plugin_id)
        else:
            data["login"] = detail.get("active_login")
            retire.record_pending(session, ctx, str(detail.get("slot")), gen)
    emit(session, type=event, generation=gen, data=data, **common)


def after_success(session: Session, op: LifecycleOperation) -> None:
    """``operation.succeeded``, in the transaction that records the outcome."""
    emit(
        session,
        type="operation.succeeded",
        plugin_id=op.plugin_id,
        operation_id=op.id,
        generation=generation(session, op.plugin_id),
        data={"kind": op.kind},
    )


def after_failure(session: Session, op: LifecycleOperation, error: str) -> None:
    """``operation.failed`` and what failed with it, in the transaction that records it."""
    gen = generation(session, op.plugin_id)
    common: dict[str, Any] = {"plugin_id": op.plugin_id, "operation_id": op.id, "generation": gen}
    if op.kind == Kind.MIGRATE.value or error.startswith("migration "):
        emit(session, type="migration.failed", data={"error": error[:500]}, **common)
    ds = session.get(PluginDatasource, op.plugin_id)
    if ds is not None and ds.status == DsStatus.FAILED.value:
        emit(session, type="datasource.failed", data={"kind": op.kind}, **common)
    emit(session, type="operation.failed", data={"kind": op.kind, "error": error[:500]}, **common)

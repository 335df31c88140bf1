"""Lifecycle mutations (record, enqueue, ``202``) and operation reads."""

from __future__ import annotations

from fastapi import APIRouter

from worker.api.auth import Reader
from worker.api.context import Ctx
from worker.api.models import (
    EmptyBody,
    MigrateBody,
    OperationDetail,
    OperationId,
    OperationSummary,
    ProvisionBody,
    TeardownBody,
)
from worker.api.mutations import Mutate, fields_of, summary
from worker.errors import NotFound
from worker.states import Kind
from worker.tracking.models import LifecycleOperation

from .problems import responses

router = APIRouter(tags=["lifecycle"], responses=responses(400, 401, 403, 404, 409, 413, 422))


@router.post("/api/plugins/{pluginId}/provision", status_code=202)
def provision(op: Mutate, body: ProvisionBody | None = None) -> OperationSummary:
    """Provision the plugin (its manifest inline, or its folder under the plugins root)."""
    return op.submit(Kind.PROVISION, fields_of(body))


@router.post("/api/plugins/{pluginId}/migrate", status_code=202)
def migrate(op: Mutate, body: MigrateBody | None = None) -> OperationSummary:
    """Apply pending migrations, or reach ``target`` (lower runs DOWN parts)."""
    return op.submit(Kind.MIGRATE, fields_of(body))


@router.post("/api/plugins/{pluginId}/rotate", status_code=202)
def rotate(op: Mutate, body: EmptyBody | None = None) -> OperationSummary:
    """Rotate the plugin's credentials (the connection's generation changes)."""
    return op.submit(Kind.ROTATE, fields_of(body))


@router.post("/api/plugins/{pluginId}/teardown", status_code=202)
def teardown(op: Mutate, body: TeardownBody | None = None) -> OperationSummary:
    """Archive the plugin's storage, or delete it for good with ``purge``."""
    return op.submit(Kind.TEARDOWN, fields_of(body))


@router.post("/api/plugins/{pluginId}/restore", status_code=202)
def restore(op: Mutate, body: EmptyBody | None = None) -> OperationSummary:
    """Bring archived storage back."""
    return op.submit(Kind.RESTORE, fields_of(body))


@router.get("/api/operations/{operationId}")
def operation(operation_id: OperationId, ctx: Ctx, _: Reader) -> OperationDetail:
    """One operation with every step, its timing and attempt."""
    with ctx.sessions() as session:
        op = session.get(LifecycleOperation, operation_id)
    if op is None:
        raise NotFound("no such operation", [f"operationId: no operation {operation_id}"])
    return OperationDetail(
        **summary(op).model_dump(),
        steps=op.steps,
        current_step=op.current_step,
        request_id=op.request_id,
        requested_by=op.requested_by,
        attempts=op.attempts,
        result=op.result,
        created_at=op.created_at,
        finished_at=op.finished_at,
    )

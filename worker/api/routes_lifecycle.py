"""Lifecycle mutations (record, enqueue, ``202``) and operation reads."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from worker.api.auth import require_scope
from worker.api.context import ApiContext, api_context
from worker.api.models import (
    EmptyBody,
    IdempotencyKey,
    MigrateBody,
    OperationDetail,
    OperationId,
    OperationSummary,
    PluginId,
    ProvisionBody,
    TeardownBody,
)
from worker.errors import NotFound
from worker.lifecycle.submit import submit
from worker.naming import check_plugin_id
from worker.states import Kind
from worker.tracking.models import LifecycleOperation

from .problems import responses

router = APIRouter(tags=["lifecycle"], responses=responses(400, 401, 403, 404, 409, 413, 422))
Ctx = Annotated[ApiContext, Depends(api_context)]
Writer = Annotated[str, Depends(require_scope("plugins:write"))]
Reader = Annotated[str, Depends(require_scope("plugins:read"))]


def summary(op: LifecycleOperation) -> OperationSummary:
    """The ``202`` answer of a mutation."""
    return OperationSummary(
        operation_id=op.id, plugin_id=op.plugin_id, kind=op.kind, state=op.state, error=op.error
    )


def mutate(
    ctx: ApiContext,
    *,
    response: Response,
    kind: Kind,
    plugin_id: str,
    actor: str,
    key: str | None,
    fields: dict[str, Any],
) -> OperationSummary:
    """Validate, record (pending) and enqueue; the same Idempotency-Key returns the same op."""
    check_plugin_id(plugin_id, "pluginId")
    payload = {
        **fields,
        "plugin_id": plugin_id,
        "request_id": key or f"api-{uuid.uuid4()}",
        "requested_by": actor,
    }
    op, _ = submit(ctx.service, ctx.celery, kind, payload)
    response.headers["Location"] = f"/api/operations/{op.id}"
    return summary(op)


def _fields(body: BaseModel | None) -> dict[str, Any]:
    return body.model_dump(exclude_none=True) if body is not None else {}


@router.post("/api/plugins/{pluginId}/provision", status_code=202)
def provision(
    *,
    plugin_id: PluginId,
    ctx: Ctx,
    actor: Writer,
    response: Response,
    key: IdempotencyKey = None,
    body: ProvisionBody | None = None,
) -> OperationSummary:
    """Provision the plugin (its manifest inline, or its folder under the plugins root)."""
    return mutate(
        ctx,
        response=response,
        kind=Kind.PROVISION,
        plugin_id=plugin_id,
        actor=actor,
        key=key,
        fields=_fields(body),
    )


@router.post("/api/plugins/{pluginId}/migrate", status_code=202)
def migrate(
    *,
    plugin_id: PluginId,
    ctx: Ctx,
    actor: Writer,
    response: Response,
    key: IdempotencyKey = None,
    body: MigrateBody | None = None,
) -> OperationSummary:
    """Apply pending migrations, or reach ``target`` (lower runs DOWN parts)."""
    return mutate(
        ctx,
        response=response,
        kind=Kind.MIGRATE,
        plugin_id=plugin_id,
        actor=actor,
        key=key,
        fields=_fields(body),
    )


@router.post("/api/plugins/{pluginId}/rotate", status_code=202)
def rotate(
    *,
    plugin_id: PluginId,
    ctx: Ctx,
    actor: Writer,
    response: Response,
    key: IdempotencyKey = None,
    body: EmptyBody | None = None,
) -> OperationSummary:
    """Rotate the plugin's credentials (the connection's generation changes)."""
    return mutate(
        ctx,
        response=response,
        kind=Kind.ROTATE,
        plugin_id=plugin_id,
        actor=actor,
        key=key,
        fields=_fields(body),
    )


@router.post("/api/plugins/{pluginId}/teardown", status_code=202)
def teardown(
    *,
    plugin_id: PluginId,
    ctx: Ctx,
    actor: Writer,
    response: Response,
    key: IdempotencyKey = None,
    body: TeardownBody | None = None,
) -> OperationSummary:
    """Archive the plugin's storage, or delete it for good with ``purge``."""
    return mutate(
        ctx,
        response=response,
        kind=Kind.TEARDOWN,
        plugin_id=plugin_id,
        actor=actor,
        key=key,
        fields=_fields(body),
    )


@router.post("/api/plugins/{pluginId}/restore", status_code=202)
def restore(
    *,
    plugin_id: PluginId,
    ctx: Ctx,
    actor: Writer,
    response: Response,
    key: IdempotencyKey = None,
    body: EmptyBody | None = None,
) -> OperationSummary:
    """Bring archived storage back."""
    return mutate(
        ctx,
        response=response,
        kind=Kind.RESTORE,
        plugin_id=plugin_id,
        actor=actor,
        key=key,
        fields=_fields(body),
    )


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

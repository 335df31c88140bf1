"""``POST /api/plugins/{pluginId}/snapshots``: take a snapshot now, as an operation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from worker.api.auth import require_scope
from worker.api.context import ApiContext, api_context
from worker.api.models import IdempotencyKey, OperationSummary, PluginId
from worker.api.routes_lifecycle import mutate
from worker.states import Kind

from .problems import responses

router = APIRouter(tags=["snapshots"], responses=responses(401, 403, 404, 409, 413, 422))
Ctx = Annotated[ApiContext, Depends(api_context)]
Writer = Annotated[str, Depends(require_scope("plugins:write"))]


@router.post("/api/plugins/{pluginId}/snapshots", status_code=202)
def take_snapshot(
    *,
    plugin_id: PluginId,
    ctx: Ctx,
    actor: Writer,
    response: Response,
    key: IdempotencyKey = None,
) -> OperationSummary:
    """Snapshot the plugin's storage now; the operation's result names the snapshot."""
    return mutate(
        ctx,
        response=response,
        kind=Kind.SNAPSHOT,
        plugin_id=plugin_id,
        actor=actor,
        key=key,
        fields={},
    )

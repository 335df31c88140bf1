"""``POST /api/plugins/{pluginId}/snapshots``: take a snapshot now, as an operation."""

from __future__ import annotations

from fastapi import APIRouter

from worker.api.models import OperationSummary
from worker.api.mutations import Mutate
from worker.states import Kind

from .problems import responses

router = APIRouter(tags=["snapshots"], responses=responses(401, 403, 404, 409, 413, 422))


@router.post("/api/plugins/{pluginId}/snapshots", status_code=202)
def take_snapshot(op: Mutate) -> OperationSummary:
    """Snapshot the plugin's storage now; the operation's result names the snapshot."""
    return op.submit(Kind.SNAPSHOT, {})

"""``POST /api/plugins/{pluginId}/relocate``: move a plugin, with its data, elsewhere."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from worker.api.models import Body, OperationSummary
from worker.api.mutations import Mutate, fields_of
from worker.manifest import Mode
from worker.states import Kind

from .problems import responses

router = APIRouter(tags=["lifecycle"], responses=responses(401, 403, 404, 409, 413, 422))


class RelocateBody(Body):
    """``plugin_db.relocate``: the mode and/or target to move to (default: placement)."""

    mode: Mode | None = None
    target: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@router.post("/api/plugins/{pluginId}/relocate", status_code=202)
def relocate(op: Mutate, body: RelocateBody | None = None) -> OperationSummary:
    """Move the plugin's storage and data to another target or mode (see ``plugin-db relocate``)."""
    return op.submit(Kind.RELOCATE, fields_of(body))

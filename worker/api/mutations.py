"""What every mutation route shares: its dependencies, then validate, record, enqueue, ``202``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Response
from pydantic import BaseModel

from worker.api.auth import Writer
from worker.api.context import ApiContext, Ctx
from worker.api.models import IdempotencyKey, OperationSummary, PluginId
from worker.lifecycle.submit import submit
from worker.naming import check_plugin_id
from worker.states import Kind
from worker.tracking.models import LifecycleOperation


def summary(op: LifecycleOperation) -> OperationSummary:
    """The ``202`` answer of a mutation."""
    return OperationSummary(
        operation_id=op.id, plugin_id=op.plugin_id, kind=op.kind, state=op.state, error=op.error
    )


def fields_of(body: BaseModel | None) -> dict[str, Any]:
    """The request fields a body sets (none without a body)."""
    return body.model_dump(exclude_none=True) if body is not None else {}


@dataclass(frozen=True)
class Mutation:
    """A mutation request on one plugin: who asks, with which Idempotency-Key."""

    ctx: ApiContext
    plugin_id: str
    actor: str
    key: str | None
    response: Response

    def submit(self, kind: Kind, fields: dict[str, Any]) -> OperationSummary:
        """Validate, record (pending) and enqueue; the same Idempotency-Key returns the same op."""
        check_plugin_id(self.plugin_id, "pluginId")
        payload = {
            **fields,
            "plugin_id": self.plugin_id,
            "request_id": self.key or f"api-{uuid.uuid4()}",
            "requested_by": self.actor,
        }
        op, _ = submit(self.ctx.service, self.ctx.celery, kind, payload)
        self.response.headers["Location"] = f"/api/operations/{op.id}"
        return summary(op)


def mutation(
    plugin_id: PluginId, ctx: Ctx, actor: Writer, response: Response, key: IdempotencyKey = None
) -> Mutation:
    """The dependency every mutation route takes (token with ``plugins:write`` first)."""
    return Mutation(ctx, plugin_id, actor, key, response)


Mutate = Annotated[Mutation, Depends(mutation)]

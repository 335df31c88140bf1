"""``/api/webhooks`` (scope ``admin``) and ``POST /api/plugins/{pluginId}/connection/ack``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from worker.api.auth import require_scope
from worker.api.context import Ctx
from worker.api.models import PluginId
from worker.api.problems import responses
from worker.rotation.triggers import acknowledge
from worker.webhooks import endpoints

router = APIRouter(tags=["webhooks"], responses=responses(401, 403, 404, 422))
Admin = Annotated[str, Depends(require_scope("admin"))]
EndpointId = Annotated[
    str, Path(alias="endpointId", min_length=1, max_length=40, pattern=r"^ep_[0-9a-f]+$")
]


class NewEndpoint(BaseModel):
    """``POST /api/webhooks``."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000)
    events: list[str] = Field(default_factory=list, max_length=20)


class Ack(BaseModel):
    """``POST /api/plugins/{pluginId}/connection/ack``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    generation: int = Field(ge=1)


@router.post("/api/webhooks", status_code=201)
def add(body: NewEndpoint, ctx: Ctx, actor: Admin) -> dict[str, Any]:
    """Register an endpoint; the answer holds its ``whsec_`` secret, shown only this once."""
    return endpoints.add(
        ctx.sessions, ctx.settings, ctx.box, body.url, events=body.events, actor=actor
    )


@router.get("/api/webhooks")
def listing(ctx: Ctx, _actor: Admin) -> list[dict[str, Any]]:
    """Every endpoint (never its secret) with its count of undelivered events."""
    return endpoints.list_all(ctx.sessions)


@router.delete("/api/webhooks/{endpointId}", status_code=204)
def remove(endpoint_id: EndpointId, ctx: Ctx, actor: Admin) -> Response:
    """Delete an endpoint and its undelivered events."""
    endpoints.remove(ctx.sessions, endpoint_id, actor)
    return Response(status_code=204)


@router.post("/api/webhooks/{endpointId}/enable")
def enable(endpoint_id: EndpointId, ctx: Ctx, actor: Admin) -> dict[str, Any]:
    """Re-enable an endpoint disabled after repeated failures."""
    endpoints.enable(ctx.sessions, endpoint_id, actor)
    return {"id": endpoint_id, "enabled": True}


@router.post("/api/webhooks/{endpointId}/test")
async def test(endpoint_id: EndpointId, ctx: Ctx, actor: Admin) -> dict[str, Any]:
    """POST a signed ``webhook.test`` message to the endpoint now."""
    sent = await run_in_threadpool(
        endpoints.test, ctx.sessions, ctx.settings, ctx.box, endpoint_id, actor
    )
    return {"id": endpoint_id, "ok": sent.ok, "status_code": sent.status_code, "error": sent.error}


@router.post("/api/plugins/{pluginId}/connection/ack", status_code=202)
def ack(
    plugin_id: PluginId,
    body: Ack,
    ctx: Ctx,
    actor: Annotated[str, Depends(require_scope("connections:read"))],
) -> dict[str, Any]:
    """The platform now uses ``generation``: the login it replaced is retired (enqueued)."""
    result = acknowledge(ctx.sessions, plugin_id, body.generation, actor)
    for request in result["requests"]:
        ctx.celery.send_task("plugin_db.retire_credentials", args=[request])
    retiring = [r["retirement_id"] for r in result["requests"]]
    return {"plugin_id": plugin_id, "generation": body.generation, "retiring": retiring}

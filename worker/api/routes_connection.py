"""``GET /api/plugins/{pluginId}/connection``: the runtime's URL, audited, with an ETag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from fastapi.concurrency import run_in_threadpool

from worker import audit
from worker.api.auth import Bearer, require_scope_in_handler
from worker.api.context import ApiContext, api_context
from worker.api.models import ConnectionDoc, PluginId
from worker.api.problems import responses
from worker.connection import etag, read_connection

router = APIRouter(tags=["connections"], responses=responses(400, 401, 403, 404, 409, 422))


@router.get(
    "/api/plugins/{pluginId}/connection",
    response_model=ConnectionDoc,
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}},
)
async def connection(
    plugin_id: PluginId,
    ctx: Annotated[ApiContext, Depends(api_context)],
    bearer: Annotated[Bearer, Depends(require_scope_in_handler("connections:read"))],
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=200)] = None,
) -> Response:
    """The connection document; every read (``304`` included) is audited with the token's name."""
    return await run_in_threadpool(_answer, ctx, bearer, plugin_id, if_none_match)


def _answer(ctx: ApiContext, bearer: Bearer, plugin_id: str, if_none_match: str | None) -> Response:
    """Token check, read, decryption and audit in one transaction (one thread hop)."""
    with ctx.sessions.begin() as session:
        actor = bearer.confirm(session)
        document = read_connection(session, ctx.box, plugin_id)
        tag = etag(document)
        fresh = if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}
        audit.record(
            session,
            "connection_read",
            plugin_id=plugin_id,
            actor=actor,
            generation=document["generation"],
            not_modified=fresh,
        )
    if fresh:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(
        content=ConnectionDoc.model_validate(document).model_dump_json(by_alias=True),
        media_type="application/json",
        headers={"ETag": tag, "Cache-Control": "no-store"},
    )

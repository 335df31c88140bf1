"""Reads of plugins, their audit trail and the doctor; all from the tracking tables."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from worker.api.auth import Reader
from worker.api.context import Ctx
from worker.api.models import PluginId, Timestamp
from worker.api.problems import responses
from worker.errors import NotFound, UnknownPlugin
from worker.naming import PLUGIN_ID_RE
from worker.ops.doctor import Doctor
from worker.states import DsStatus
from worker.tracking.models import AuditEvent, PluginDatasource

router = APIRouter(tags=["plugins"], responses=responses(400, 401, 403, 404, 422))
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
MAX_ID = 2**31 - 1


class Plugin(BaseModel):
    """A plugin's datasource: descriptor and state, never a secret."""

    plugin_id: str
    mode: str
    provider: str
    status: str
    generation: int
    descriptor: dict[str, Any]
    rotated_at: Timestamp | None = None
    archived_at: Timestamp | None = None
    next_rotation_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class PluginPage(BaseModel):
    """One page of plugins; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[Plugin]
    next_cursor: str | None = None


class AuditItem(BaseModel):
    """One audit event (details are redacted when written)."""

    id: int
    timestamp: Timestamp
    operation_id: int | None = None
    event: str
    actor: str | None = None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """One page of a plugin's audit trail, oldest first."""

    items: list[AuditItem]
    next_cursor: int | None = None


def plugin_of(ds: PluginDatasource) -> Plugin:
    """The public view of a datasource row."""
    return Plugin(
        plugin_id=ds.plugin_id,
        mode=ds.mode,
        provider=ds.provider,
        status=ds.status,
        generation=ds.generation,
        descriptor=ds.descriptor,
        rotated_at=ds.rotated_at,
        archived_at=ds.archived_at,
        next_rotation_at=ds.next_rotation_at,
        updated_at=ds.updated_at,
    )


@router.get("/api/plugins")
def plugins(
    *,
    ctx: Ctx,
    _: Reader,
    status: Annotated[DsStatus | None, Query(description="Only this status.")] = None,
    provider: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z0-9_-]+$")] = None,
    mode: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z0-9_-]+$")] = None,
    cursor: Annotated[str | None, Query(max_length=40, pattern=PLUGIN_ID_RE.pattern)] = None,
    limit: Limit = 100,
) -> PluginPage:
    """Plugins ordered by id, with filters and cursor pagination."""
    query = select(PluginDatasource).order_by(PluginDatasource.plugin_id).limit(limit + 1)
    for column, value in (
        (PluginDatasource.status, status.value if status else None),
        (PluginDatasource.provider, provider),
        (PluginDatasource.mode, mode),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor is not None:
        query = query.where(PluginDatasource.plugin_id > cursor)
    with ctx.sessions() as session:
        rows = list(session.scalars(query))
    more = len(rows) > limit
    items = [plugin_of(ds) for ds in rows[:limit]]
    return PluginPage(items=items, next_cursor=items[-1].plugin_id if more else None)


@router.get("/api/plugins/{pluginId}")
def plugin(plugin_id: PluginId, ctx: Ctx, _: Reader) -> Plugin:
    """The plugin's descriptor and state (no secret)."""
    with ctx.sessions() as session:
        ds = session.get(PluginDatasource, plugin_id)
    if ds is None:
        raise NotFound("no such plugin", [f"pluginId: {plugin_id} has no datasource"])
    return plugin_of(ds)


@router.get("/api/plugins/{pluginId}/audit")
def audit_trail(
    plugin_id: PluginId,
    ctx: Ctx,
    _: Reader,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    limit: Limit = 100,
) -> AuditPage:
    """The plugin's audit trail, oldest first, cursor-paginated by event id."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.plugin_id == plugin_id, AuditEvent.id > (cursor or 0))
        .order_by(AuditEvent.id)
        .limit(limit + 1)
    )
    with ctx.sessions() as session:
        rows = list(session.scalars(query))
    more = len(rows) > limit
    items = [
        AuditItem(
            id=e.id,
            timestamp=e.timestamp,
            operation_id=e.operation_id,
            event=e.event,
            actor=e.actor,
            details=e.details,
        )
        for e in rows[:limit]
    ]
    return AuditPage(items=items, next_cursor=items[-1].id if more else None)


@router.get("/api/doctor")
def doctor(
    ctx: Ctx,
    _: Reader,
    plugin_id: Annotated[
        str | None, Query(alias="plugin", max_length=40, pattern=PLUGIN_ID_RE.pattern)
    ] = None,
) -> dict[str, Any]:
    """``plugin-db doctor --json``: every check, read-only (nothing is audited or changed)."""
    try:
        report = Doctor(ctx.settings, ctx.sessions).run(plugin_id, record=False)
    except UnknownPlugin:
        raise NotFound("no such plugin", [f"plugin: {plugin_id} has no datasource"]) from None
    return report.to_json()

"""The schema registry routes of the declarative-schema design (``/api/extensions/...``).

Mutations validate, record and enqueue ``plugin_db.register_schema`` / ``unregister_schema``
/ ``migrate`` exactly like the lifecycle routes; reads come from the tracking tables.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy import select

from worker.api.auth import Reader
from worker.api.context import ApiContext, Ctx
from worker.api.models import (
    ConflictItem,
    Conflicts,
    MigrateBody,
    Migration,
    OperationSummary,
    PluginId,
    SchemaRow,
    Validation,
)
from worker.api.mutations import Mutate, fields_of
from worker.api.problems import responses
from worker.errors import Conflict, NotFound
from worker.migrations.plan import ROLLBACK_ALL
from worker.schema import detect_conflicts
from worker.schema.registry import check_registration, document_of, is_live
from worker.states import Kind
from worker.tracking.models import ExtensionSchema, PluginMigration

router = APIRouter(tags=["registry"], responses=responses(400, 401, 403, 404, 409, 413, 422))
Document = Annotated[dict[str, Any], Body(description="An ExtensionDatabaseSchema document.")]
Force = Annotated[bool, Query(description="Allow destructive changes.")]
MigrationId = Annotated[
    str, Path(alias="migrationId", min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._-]+$")
]
SCHEMA = "/api/extensions/{pluginId}/schema"


def _row(ctx: ApiContext, plugin_id: str) -> ExtensionSchema | None:
    with ctx.sessions() as session:
        return session.scalars(select(ExtensionSchema).filter_by(plugin_id=plugin_id)).first()


@router.post(SCHEMA, status_code=202)
def register(op: Mutate, document: Document, force: Force = False) -> OperationSummary:
    """Register a schema (409 if one is live: update it with PUT)."""
    row = _row(op.ctx, op.plugin_id)
    replay = op.key is not None and op.ctx.service.store.by_request_id(op.key) is not None
    if row is not None and is_live(row) and not replay:
        raise Conflict("schema exists", [f"pluginId: {op.plugin_id} has a live schema; use PUT"])
    return op.submit(Kind.REGISTER_SCHEMA, {"schema": document, "force": force})


@router.put(SCHEMA, status_code=202)
def update(op: Mutate, document: Document, force: Force = False) -> OperationSummary:
    """Register a new version of the plugin's schema (404 if none is registered: use POST)."""
    if _row(op.ctx, op.plugin_id) is None:
        raise NotFound("no schema", [f"pluginId: {op.plugin_id} has no schema; use POST"])
    return op.submit(Kind.REGISTER_SCHEMA, {"schema": document, "force": force})


@router.get(SCHEMA)
def show(plugin_id: PluginId, ctx: Ctx, _: Reader) -> SchemaRow:
    """The plugin's registered schema."""
    row = _row(ctx, plugin_id)
    if row is None:
        raise NotFound("no schema", [f"pluginId: {plugin_id} has no registered schema"])
    return SchemaRow(
        plugin_id=row.plugin_id,
        version=row.version,
        status=row.status,
        live=is_live(row),
        registered_at=row.registered_at,
        activated_at=row.activated_at,
        deactivated_at=row.deactivated_at,
        last_error=row.last_error,
        validation_errors=row.validation_errors,
        schema_definition=row.schema_definition,
    )


@router.delete(SCHEMA, status_code=202)
def unregister(op: Mutate) -> OperationSummary:
    """Unregister the schema (its tables are kept until teardown with purge)."""
    return op.submit(Kind.UNREGISTER_SCHEMA, {})


@router.post(SCHEMA + "/validate")
def validate(plugin_id: PluginId, document: Document, ctx: Ctx, _: Reader) -> Validation:
    """Validate a document against the registry without registering it (422 lists problems)."""
    doc = check_registration(ctx.sessions, plugin_id, document)
    return Validation(
        valid=True,
        plugin_id=doc.plugin_id,
        version=doc.version,
        tables=[t.name for t in doc.tables],
        enums=[e.name for e in doc.enums],
    )


@router.post("/api/extensions/{pluginId}/migrations/execute", status_code=202)
def execute(op: Mutate, body: MigrateBody | None = None) -> OperationSummary:
    """Run pending migrations (``plugin_db.migrate``)."""
    return op.submit(Kind.MIGRATE, fields_of(body))


@router.get("/api/extensions/{pluginId}/migrations")
def history(plugin_id: PluginId, ctx: Ctx, _: Reader) -> list[Migration]:
    """The plugin's migration history (``plugin_migrations``), by version."""
    with ctx.sessions() as session:
        rows = list(
            session.scalars(
                select(PluginMigration)
                .where(PluginMigration.plugin_id == plugin_id)
                .order_by(PluginMigration.migration_version)
            )
        )
    return [
        Migration(
            version=r.migration_version,
            name=r.migration_name,
            status=r.status,
            executed_at=r.executed_at,
            completed_at=r.completed_at,
            rolled_back_at=r.rolled_back_at,
            execution_time_ms=r.execution_time_ms,
            error_message=r.error_message,
            checksum=r.checksum,
        )
        for r in rows
    ]


@router.post("/api/extensions/{pluginId}/migrations/{migrationId}/rollback", status_code=202)
def rollback(op: Mutate, migration_id: MigrationId) -> OperationSummary:
    """Roll back to just before applied version ``migrationId`` (``plugin_db.migrate``)."""
    with op.ctx.sessions() as session:
        applied = sorted(
            session.scalars(
                select(PluginMigration.migration_version).where(
                    PluginMigration.plugin_id == op.plugin_id,
                    PluginMigration.status == "completed",
                )
            )
        )
    if migration_id not in applied:
        raise NotFound(
            "no such migration",
            [f"migrationId: {op.plugin_id} has no applied version {migration_id}"],
        )
    before = [v for v in applied if v < migration_id]
    return op.submit(Kind.MIGRATE, {"target": before[-1] if before else ROLLBACK_ALL})


@router.get("/api/extensions/conflicts")
def conflicts(ctx: Ctx, _: Reader) -> Conflicts:
    """Conflicts among every registered schema."""
    with ctx.sessions() as session:
        rows = list(session.scalars(select(ExtensionSchema).order_by(ExtensionSchema.plugin_id)))
    docs = [doc for doc in map(document_of, rows) if doc is not None]
    found = [
        ConflictItem(kind=c.kind, plugins=list(c.plugins), object=c.object, message=c.message)
        for c in detect_conflicts(docs)
    ]
    return Conflicts(schemas=len(docs), conflicts=found)

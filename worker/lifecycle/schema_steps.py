"""The steps of register_schema and unregister_schema (see worker.schema)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from worker.errors import ProviderError
from worker.lifecycle.context import StepContext
from worker.lifecycle.outcome import Outcome
from worker.lifecycle.requests import RegisterSchemaRequest
from worker.migrations.review import review_statements
from worker.port import PluginPort
from worker.schema import apply as schema_engine
from worker.schema import registry
from worker.schema.parse import parse_document
from worker.tracking.models import utcnow


def _schema_request(ctx: StepContext) -> RegisterSchemaRequest:
    """The operation's register_schema request."""
    if not isinstance(ctx.request, RegisterSchemaRequest):
        raise ProviderError(f"operation {ctx.op.id} carries no schema document")
    return ctx.request


def validate_schema(ctx: StepContext) -> Outcome:
    """Validate the document (and its conflicts); the schema row becomes ``validating``."""
    detail, apply = registry.begin_registration(ctx.port(), _schema_request(ctx).schema_document)
    return Outcome(detail=detail, apply=apply)


def apply_schema(ctx: StepContext) -> Outcome:
    """Plan the DDL against the live database, lint it (snapshot, refusals and audit as for
    migration files), run it and record it in plugin_migrations."""
    request = _schema_request(ctx)

    def reviewer(version: str, statements: list[str]) -> dict[str, Any]:
        from worker.snapshots.policy import before_migrate  # it builds on the lifecycle

        def snapshot(_port: PluginPort, destructive: bool) -> int | None:
            return before_migrate(ctx, destructive)

        port = ctx.port()
        checked = review_statements(port, version, statements, request.force, snapshot)
        return checked.to_json()

    detail, apply = schema_engine.apply_schema(
        ctx.port(), request.schema_document, request.force, reviewer
    )
    return Outcome(detail=detail, apply=apply)


def activate_schema(ctx: StepContext) -> Outcome:
    """The schema row becomes ``active`` with the registered document."""
    doc = parse_document(_schema_request(ctx).schema_document)
    definition = doc.model_dump(mode="json", by_alias=True, exclude_none=True)
    ctx.result.update({"version": doc.version, "tables": [t.name for t in doc.tables]})

    def apply(session: Session) -> None:
        row = registry.row_of(session, ctx.plugin_id, ctx.actor)
        row.schema_definition, row.version, row.status = definition, doc.version, "active"
        row.activated_at, row.deactivated_at = utcnow(), None
        row.last_error, row.validation_errors, row.updated_by = None, None, ctx.actor

    return Outcome(detail={"version": doc.version}, apply=apply)


def deactivate_schema(ctx: StepContext) -> Outcome:
    """Unregister: the row becomes ``pending`` with ``deactivated_at``; tables are kept."""
    with ctx.store.sessions() as session:
        row = registry.find_row(session, ctx.plugin_id)
    doc = registry.document_of(row) if row is not None and registry.is_live(row) else None
    if row is None or doc is None:
        return Outcome("skipped", {"reason": f"{ctx.plugin_id} has no active schema"})

    def apply(session: Session) -> None:
        live = registry.row_of(session, ctx.plugin_id, ctx.actor)
        live.status, live.deactivated_at, live.updated_by = "pending", utcnow(), ctx.actor

    kept = [t.name for t in doc.tables][: registry.MAX_LISTED]
    return Outcome(detail={"version": row.version, "tables_kept": kept}, apply=apply)

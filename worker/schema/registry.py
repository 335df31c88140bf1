"""The schema registry's glue: ``extension_schemas`` rows and the work of the schema steps.

* A row's ``schema_definition`` and ``version`` describe the schema live in the plugin's
  database once one was activated (before that, the document being registered); ``status``,
  ``last_error`` and ``validation_errors`` describe the latest registration.
* *Registered* schemas (checked for conflicts, referenceable by new documents) are the rows
  being validated and the live ones: activated and not deactivated. Exports cover live ones.
* ``apply_schema`` plans the DDL against the live database, so a re-run after a crash
  converges; it runs the plan in one transaction where the dialect has transactional DDL
  (SQLite with foreign keys off, as its table rebuilds require) and records it in
  ``plugin_migrations`` as version ``schema-<version>`` with the generated UP and DOWN SQL.
  The plugin's own ledger is left alone: its versions are migration files and a schema
  version has none, so ``migrate --target`` never tries to roll one back.
* Unregister deactivates the row (status ``pending``, ``deactivated_at`` set) and keeps the
  tables: teardown's rule is archive first, and ``teardown --purge`` is what deletes data.
  Registering again reactivates the schema, planning from the tables still there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Provider
from worker import audit
from worker.errors import (
    LeaseLost,
    MigrationFailed,
    ProviderError,
    RequestRejected,
    SchemaDocumentError,
    TransientError,
)
from worker.lifecycle.requests import RegisterSchemaRequest
from worker.logging import redact_text
from worker.naming import bounded
from worker.schema import (
    CORE_TABLES,
    ExtensionDatabaseSchema,
    Plan,
    detect_conflicts,
    plan_changes,
    referenceable,
    validate_document,
)
from worker.schema.authoring import normalize
from worker.states import DsStatus
from worker.tracking.db import tracking_errors
from worker.tracking.models import (
    ExtensionSchema,
    PluginDatasource,
    PluginMigration,
    utcnow,
)

if TYPE_CHECKING:
    from worker.lifecycle.context import StepContext

Apply = Callable[[Session], None]
VALIDATING, FAILED = "validating", "failed"
URLS = {"sqlite": "sqlite://", "postgres": "postgresql+psycopg://", "mysql": "mysql+pymysql://"}
MAX_LISTED = 50


def is_live(row: ExtensionSchema) -> bool:
    """Whether the row's schema is activated and not deactivated."""
    return row.activated_at is not None and row.deactivated_at is None


def document_of(row: ExtensionSchema) -> ExtensionDatabaseSchema | None:
    """The row's stored document (names in their stored form), or None if it does not parse."""
    data = row.schema_definition
    try:
        return ExtensionDatabaseSchema.model_validate(
            normalize(data) if isinstance(data, dict) else data
        )
    except ValidationError:
        return None


def registered(session: Session, *, live_only: bool = False) -> list[ExtensionDatabaseSchema]:
    """Documents of live rows (and of rows being validated unless ``live_only``)."""
    rows = session.scalars(select(ExtensionSchema).order_by(ExtensionSchema.plugin_id))
    chosen = (r for r in rows if is_live(r) or (not live_only and r.status == VALIDATING))
    return [doc for doc in map(document_of, chosen) if doc is not None]


def check_registration(
    sessions: sessionmaker[Session], plugin_id: str, data: object
) -> ExtensionDatabaseSchema:
    """Validate ``data`` for ``plugin_id`` against the other registered schemas."""
    with tracking_errors(), sessions() as session:
        others = [d for d in registered(session) if d.plugin_id != plugin_id]
    doc = validate_document(data, plugin_id, {**CORE_TABLES, **referenceable(others)})
    found = [c for c in detect_conflicts([*others, doc]) if plugin_id in c.plugins]
    if found:
        problems = [f"{c.kind} {c.object}: {c.message}" for c in found]
        raise SchemaDocumentError("schema conflicts with registered plugins", problems)
    return doc


def migration_version(doc: ExtensionDatabaseSchema) -> str:
    """The ``plugin_migrations`` version of a schema version (50 characters at most)."""
    return bounded(f"schema-{doc.version}", 50)


# -- register_schema / unregister_schema steps ---------------------------------------------


def schema_request(ctx: StepContext) -> RegisterSchemaRequest:
    """The operation's register_schema request."""
    if not isinstance(ctx.request, RegisterSchemaRequest):
        raise ProviderError(f"operation {ctx.op.id} carries no schema document")
    return ctx.request


def find_row(session: Session, plugin_id: str) -> ExtensionSchema | None:
    """The plugin's ``extension_schemas`` row, if any."""
    return session.scalars(select(ExtensionSchema).filter_by(plugin_id=plugin_id)).first()


def row_of(session: Session, ctx: StepContext) -> ExtensionSchema:
    """The plugin's ``extension_schemas`` row in ``session``, created if missing."""
    row = find_row(session, ctx.plugin_id)
    if row is None:
        row = ExtensionSchema(plugin_id=ctx.plugin_id, registered_at=utcnow(), created_by=ctx.actor)
        session.add(row)
    return row


def _adopt(row: ExtensionSchema, definition: dict[str, Any], version: str) -> None:
    if not is_live(row) or row.schema_definition is None:
        row.schema_definition, row.version = definition, version


@contextmanager
def recording_failure(ctx: StepContext) -> Iterator[None]:
    """Mark the plugin's row failed (with its problems) when the block fails for good."""
    try:
        yield
    except (TransientError, LeaseLost):
        raise
    except Exception as exc:
        raw = schema_request(ctx).schema_document
        version = raw.get("version")
        shown = version if isinstance(version, str) and 0 < len(version) <= 50 else "unknown"
        with ctx.store.fenced(ctx.claim) as session:
            row = row_of(session, ctx)
            _adopt(row, raw, shown)
            row.status, row.last_error = FAILED, redact_text(str(exc))
            row.validation_errors = exc.problems if isinstance(exc, RequestRejected) else None
            row.updated_by = ctx.actor
        raise


def begin_registration(ctx: StepContext) -> tuple[dict[str, Any], Apply]:
    """Check the document and the datasource; the row becomes ``validating``."""
    with recording_failure(ctx):
        doc = check_registration(
            ctx.store.sessions, ctx.plugin_id, schema_request(ctx).schema_document
        )
        with ctx.store.sessions() as session:
            ds = ctx.datasource(session)
        if ds is None or ds.status != DsStatus.READY:
            status = ds.status if ds else "not provisioned"
            raise ProviderError(f"{ctx.plugin_id} is {status}; its datasource must be ready")
    definition = doc.model_dump(mode="json", by_alias=True, exclude_none=True)

    def apply(session: Session) -> None:
        row = row_of(session, ctx)
        _adopt(row, definition, doc.version)
        row.status, row.last_error, row.validation_errors = VALIDATING, None, None
        row.updated_by = ctx.actor

    return {"version": doc.version, "tables": len(doc.tables), "enums": len(doc.enums)}, apply


def apply_schema(ctx: StepContext) -> tuple[dict[str, Any], Apply]:
    """Plan the DDL against the plugin's database, run it and record it as a migration."""
    request = schema_request(ctx)
    with recording_failure(ctx):
        doc = check_registration(ctx.store.sessions, ctx.plugin_id, request.schema_document)
        login = ctx.login()

        def connect() -> Any:
            return ctx.provider.connect(ctx.spec, login)

        plan = _plan(ctx, doc, connect, request.force)
        version, count = migration_version(doc), len(plan.up_sql)
        if plan.empty:
            detail = {"version": version, "statements": 0, "reason": "the database matches"}
            return detail, lambda session: _recovered(session, ctx, version)
        with ctx.store.fenced(ctx.claim) as session:
            row = _migration(session, ctx, version)
            row.migration_description = "; ".join(plan.destructive + plan.additive)[:10_000]
            row.up_sql = "".join(f"{statement};\n" for statement in plan.up_sql)
            row.down_sql = "".join(f"{statement};\n" for statement in plan.down_sql)
            row.checksum = hashlib.sha256(row.up_sql.encode()).hexdigest()
            row.status, row.executed_at, row.error_message = "running", utcnow(), None
        started = time.monotonic()
        try:
            with closing(connect()) as raw:
                _execute(ctx.provider, raw, version, plan.up_sql)
        except MigrationFailed as exc:
            with ctx.store.fenced(ctx.claim) as session:
                _finish(session, ctx, version, count, started, error=exc)
            raise
    detail = {
        "version": version,
        "statements": count,
        "destructive": plan.destructive[:MAX_LISTED],
        "additive": plan.additive[:MAX_LISTED],
        "data_at_risk": plan.data_at_risk,
    }
    return detail, lambda session: _finish(session, ctx, version, count, started)


# -- helpers -------------------------------------------------------------------------------


def _plan(
    ctx: StepContext, doc: ExtensionDatabaseSchema, connect: Callable[[], Any], force: bool
) -> Plan:
    dialect = ctx.provider.dialect
    objects = ctx.provider.describe(ctx.spec).objects
    schema = objects.get("schema") if dialect == "postgres" else None
    ids: set[str] = set()
    if ctx.provider.name == "shared":  # only a shared database holds other plugins' tables
        with ctx.store.sessions() as session:
            live = PluginDatasource.status != DsStatus.DELETED.value
            ids.update(session.scalars(select(PluginDatasource.plugin_id).where(live)))
            ids.update(session.scalars(select(ExtensionSchema.plugin_id)))
    engine = sa.create_engine(URLS[dialect], creator=connect, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if schema == conn.dialect.default_schema_name:
                schema = None  # the login's search_path: Alembic reflects it as the default schema
            return plan_changes(doc, conn, force=force, schema=schema, other_plugins=sorted(ids))
    except sa.exc.DBAPIError as exc:
        raise ProviderError(f"reading the database of {ctx.plugin_id}: {exc.orig}") from exc
    finally:
        engine.dispose()


def _execute(provider: Provider, raw: Any, version: str, statements: list[str]) -> None:
    """Run statements in one transaction where DDL is transactional (FKs off on SQLite)."""
    cursor, sqlite = raw.cursor(), provider.dialect == "sqlite"
    transactional = provider.transactional_ddl
    if sqlite:
        cursor.execute("PRAGMA foreign_keys=OFF")  # table rebuilds need it (rebuild.py)
    try:
        if transactional:
            cursor.execute("BEGIN")
        try:
            for statement in statements:
                try:
                    cursor.execute(statement)
                except Exception as exc:  # driver errors differ; all mean "this statement failed"
                    reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
                    raise MigrationFailed(version, statement[:300], reason) from exc
            if sqlite and cursor.execute("PRAGMA foreign_key_check").fetchall():
                raise MigrationFailed(version, "PRAGMA foreign_key_check", "foreign keys broken")
        except BaseException:
            if transactional:
                cursor.execute("ROLLBACK")
            raise
        if transactional:
            cursor.execute("COMMIT")
    finally:
        if sqlite:
            cursor.execute("PRAGMA foreign_keys=ON")


def _migration(session: Session, ctx: StepContext, version: str) -> PluginMigration:
    query = select(PluginMigration).filter_by(plugin_id=ctx.plugin_id, migration_version=version)
    row = session.scalars(query).first()
    if row is None:
        row = PluginMigration(
            plugin_id=ctx.plugin_id,
            plugin_name=ctx.manifest.name or ctx.plugin_id,
            migration_version=version,
            migration_name=f"declarative schema {version.removeprefix('schema-')}",
        )
        session.add(row)
    return row


def _recovered(session: Session, ctx: StepContext, version: str) -> None:
    """A crash after the DDL committed left the row running; the live database proves it ran."""
    query = select(PluginMigration).filter_by(
        plugin_id=ctx.plugin_id, migration_version=version, status="running"
    )
    for row in session.scalars(query):
        row.status, row.completed_at, row.error_message = "completed", utcnow(), None


def _finish(
    session: Session,
    ctx: StepContext,
    version: str,
    count: int,
    started: float,
    *,
    error: MigrationFailed | None = None,
) -> None:
    """Record the migration's outcome, with an audit event counting its statements."""
    elapsed = int((time.monotonic() - started) * 1000)
    row = _migration(session, ctx, version)
    row.status, row.execution_time_ms = ("failed" if error else "completed"), elapsed
    row.error_message, row.completed_at = (str(error), None) if error else (None, utcnow())
    extra = {"error": str(error), "statement": error.statement} if error else {}
    audit.record(
        session,
        f"schema_migration_{row.status}",
        plugin_id=ctx.plugin_id,
        operation_id=ctx.op.id,
        actor=ctx.actor,
        version=version,
        statements=count,
        ms=elapsed,
        **extra,
    )

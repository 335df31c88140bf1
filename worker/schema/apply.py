"""The apply_schema step's engine: plan the DDL against the live database, run it, record it.

It runs the plan in one transaction where the driver has transactional DDL, inside the
driver's :meth:`~providers.base.Provider.schema_change` guard (SQLite turns foreign keys off
for its table rebuilds and checks them afterwards), and records it in ``plugin_migrations``
as version ``schema-<version>``. The ``running`` mark and a failure are written through the
port's journal at once; success is the step's own change, committed with its completion.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.base import Provider
from worker import audit
from worker.errors import MigrationFailed, ProviderError
from worker.port import Change, PluginPort
from worker.schema import ExtensionDatabaseSchema, Plan, plan_changes
from worker.schema.registry import (
    MAX_LISTED,
    check_registration,
    migration_version,
    recording_failure,
)
from worker.states import DsStatus
from worker.tracking.models import ExtensionSchema, PluginDatasource, PluginMigration, utcnow

Reviewer = Callable[[str, list[str]], dict[str, Any]]
"""Lints a generated plan (version, statements) before it runs, takes the snapshot the policy
asks for and raises MigrationRefused for what must be refused; returns its summary."""


def apply_schema(
    port: PluginPort, raw: dict[str, Any], force: bool, reviewer: Reviewer | None = None
) -> tuple[dict[str, Any], Change]:
    """Plan the DDL against the plugin's database, review it, run it and record it."""
    with recording_failure(port, raw):
        doc = check_registration(port.sessions, port.plugin_id, raw)
        plan = _plan(port, doc, force)
        version, count = migration_version(doc), len(plan.up_sql)
        if plan.empty:
            detail = {"version": version, "statements": 0, "reason": "the database matches"}
            return detail, lambda session: _recovered(session, port.plugin_id, version)
        reviewed = reviewer(version, plan.up_sql) if reviewer is not None else {}
        port.journal.write(lambda session: _running(session, port, version, plan))
        started = time.monotonic()
        try:
            with closing(port.connect()) as raw_conn:
                _execute(port.provider, raw_conn, version, plan.up_sql)
        except MigrationFailed as exc:
            failure = exc
            port.journal.write(
                lambda session: _finish(session, port, version, count, started, error=failure)
            )
            raise
    detail = {
        "version": version,
        "statements": count,
        "destructive": plan.destructive[:MAX_LISTED],
        "additive": plan.additive[:MAX_LISTED],
        "data_at_risk": plan.data_at_risk,
        **reviewed,
    }
    return detail, lambda session: _finish(session, port, version, count, started)


def _other_plugins(port: PluginPort) -> list[str]:
    """Plugins whose tables may sit next to this one's (only where the driver says so)."""
    if not port.provider.holds_other_plugins:
        return []
    ids: set[str] = set()
    with port.sessions() as session:
        live = PluginDatasource.status != DsStatus.DELETED.value
        ids.update(session.scalars(select(PluginDatasource.plugin_id).where(live)))
        ids.update(session.scalars(select(ExtensionSchema.plugin_id)))
    return sorted(ids)


def _plan(port: PluginPort, doc: ExtensionDatabaseSchema, force: bool) -> Plan:
    schema = port.provider.reflection_schema(port.spec)
    others = _other_plugins(port)
    engine = port.provider.plugin_engine(port.spec, port.login())
    try:
        with engine.connect() as conn:
            if schema == conn.dialect.default_schema_name:
                schema = None  # the login's search_path: Alembic reflects it as the default schema
            return plan_changes(doc, conn, force=force, schema=schema, other_plugins=others)
    except sa.exc.DBAPIError as exc:
        raise ProviderError(f"reading the database of {port.plugin_id}: {exc.orig}") from exc
    finally:
        engine.dispose()


def _execute(provider: Provider, raw: Any, version: str, statements: list[str]) -> None:
    """Run statements in one transaction where DDL is transactional, in the driver's guard."""
    cursor, transactional = raw.cursor(), provider.transactional_ddl
    with provider.schema_change(cursor):
        if transactional:
            cursor.execute("BEGIN")
        try:
            for statement in statements:
                try:
                    cursor.execute(statement)
                except Exception as exc:  # driver errors differ; all mean "this statement failed"
                    reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
                    raise MigrationFailed(version, statement[:300], reason) from exc
            problem = provider.integrity_problem(cursor)
            if problem is not None:
                raise MigrationFailed(version, *problem)
        except BaseException:
            if transactional:
                cursor.execute("ROLLBACK")
            raise
        if transactional:
            cursor.execute("COMMIT")


def _migration(session: Session, port: PluginPort, version: str) -> PluginMigration:
    query = select(PluginMigration).filter_by(plugin_id=port.plugin_id, migration_version=version)
    row = session.scalars(query).first()
    if row is None:
        row = PluginMigration(
            plugin_id=port.plugin_id,
            plugin_name=port.manifest.name or port.plugin_id,
            migration_version=version,
            migration_name=f"declarative schema {version.removeprefix('schema-')}",
        )
        session.add(row)
    return row


def _running(session: Session, port: PluginPort, version: str, plan: Plan) -> None:
    row = _migration(session, port, version)
    row.migration_description = "; ".join(plan.destructive + plan.additive)[:10_000]
    row.up_sql = "".join(f"{statement};\n" for statement in plan.up_sql)
    row.down_sql = "".join(f"{statement};\n" for statement in plan.down_sql)
    row.checksum = hashlib.sha256(row.up_sql.encode()).hexdigest()
    row.status, row.executed_at, row.error_message = "running", utcnow(), None


def _recovered(session: Session, plugin_id: str, version: str) -> None:
    """A crash after the DDL committed left the row running; the live database proves it ran."""
    query = select(PluginMigration).filter_by(
        plugin_id=plugin_id, migration_version=version, status="running"
    )
    for row in session.scalars(query):
        row.status, row.completed_at, row.error_message = "completed", utcnow(), None


def _finish(
    session: Session,
    port: PluginPort,
    version: str,
    count: int,
    started: float,
    *,
    error: MigrationFailed | None = None,
) -> None:
    """Record the migration's outcome, with an audit event counting its statements."""
    elapsed = int((time.monotonic() - started) * 1000)
    row = _migration(session, port, version)
    row.status, row.execution_time_ms = ("failed" if error else "completed"), elapsed
    row.error_message, row.completed_at = (str(error), None) if error else (None, utcnow())
    extra = {"error": str(error), "statement": error.statement} if error else {}
    audit.record(
        session,
        f"schema_migration_{row.status}",
        plugin_id=port.plugin_id,
        operation_id=port.operation_id,
        actor=port.actor,
        version=version,
        statements=count,
        ms=elapsed,
        **extra,
    )

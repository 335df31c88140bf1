"""Helpers of the migration tests: plugins, the CLI in-process, ledger and table reads."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from tests.support.plugin_access import login_for, provider_for, query
from tests.support.stack import Stack, migration, write_plugin
from worker.cli import app, common
from worker.lifecycle.service import LifecycleService
from worker.logging import configure
from worker.migrations.files import checksum
from worker.settings import Settings
from worker.states import Kind
from worker.tracking.models import AuditEvent, LifecycleOperation, MigrationAttempt

MODES = {
    "sqlite": "exclusive-sqlite",
    "postgresql": "exclusive-postgres",
    "mysql": "exclusive-mysql",
}


def new_plugin(
    stack: Stack, prefix: str, mode: str, files: dict[str, str] | None = None, **db: Any
) -> tuple[str, str]:
    """A plugin folder; returns (plugin id, SQL namespace)."""
    plugin_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    write_plugin(stack.plugins_root, plugin_id, mode, files or {}, **db)
    return plugin_id, plugin_id.replace("-", "_")


def write_file(stack: Stack, plugin_id: str, name: str, up: str, down: str = "SELECT 1;") -> str:
    """Write ``migrations/<name>``; returns its checksum."""
    text = migration(up, down, name.split("-", 1)[0])
    (stack.plugins_root / plugin_id / "migrations" / name).write_text(text)
    return checksum(text)


def cli(stack: Stack, *args: str, env: dict[str, str] | None = None) -> Result:
    """``plugin-db ARGS`` in this process with the stack's environment (as ``main`` runs it)."""
    configure(json=False, level=logging.WARNING)
    common.settings.cache_clear()
    common.sessions.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env={**stack.env, **(env or {})})
    finally:  # the next in-process command (another module's) reads its own settings
        common.settings.cache_clear()
        common.sessions.cache_clear()


def rows(stack: Stack, plugin_id: str) -> list[tuple[str, str]]:
    """(version, status) of the plugin's tracking rows."""
    return [(m.migration_version, m.status) for m in stack.migrations(plugin_id)]


def attempts(stack: Stack, plugin_id: str) -> list[MigrationAttempt]:
    """The plugin's migration_attempts, oldest first."""
    with stack.sessions() as session:
        query_ = select(MigrationAttempt).where(MigrationAttempt.plugin_id == plugin_id)
        return list(session.scalars(query_.order_by(MigrationAttempt.id)))


def events(stack: Stack, plugin_id: str, event: str) -> list[AuditEvent]:
    """The plugin's audit events named ``event``."""
    return [e for e in stack.audit(plugin_id) if e.event == event]


def sql(stack: Stack, plugin_id: str, statement: str) -> list[tuple[Any, ...]]:
    """Run ``statement`` on the plugin's storage as the plugin."""
    provider, spec = provider_for(stack, plugin_id)
    return query(provider, spec, login_for(stack, provider, spec, plugin_id), statement)


def ledger(stack: Stack, plugin_id: str) -> dict[str, tuple[str, int, bool]]:
    """version → (checksum, statements_done, complete) from the plugin-side ledger."""
    provider, spec = provider_for(stack, plugin_id)
    found = sql(
        stack,
        plugin_id,
        "SELECT version, checksum, statements_done, complete "
        f"FROM {provider.history_table_name(spec)}",
    )
    return {r[0]: (r[1], int(r[2]), bool(r[3])) for r in found}


def tables(stack: Stack, plugin_id: str) -> set[str]:
    """Table names in the plugin's storage."""
    provider, _ = provider_for(stack, plugin_id)
    statement = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
        "postgres": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
        "mysql": "SHOW TABLES",
    }[provider.dialect]
    return {r[0] for r in sql(stack, plugin_id, statement)}


def step(op: LifecycleOperation, name: str) -> dict[str, Any]:
    """The record of step ``name`` of ``op``."""
    return next(s for s in op.steps if s["name"] == name)


def in_process(stack: Stack, **overrides: Any) -> LifecycleService:
    """The worker's lifecycle service in this process, with settings overridden."""
    return LifecycleService(Settings.from_env(stack.env).with_overrides(**overrides))


def run_in_process(service: LifecycleService, kind: Kind, request: dict[str, Any]) -> Any:
    """Accept and run a request in this process; the operation row afterwards."""
    op_id = service.accept(kind, request, (), f"t-{uuid.uuid4()}")
    service.run(op_id)
    return service.store.get(op_id)

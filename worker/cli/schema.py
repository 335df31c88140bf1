"""``plugin-db schema``: the declarative schema registry of ``seeds/003``.

``validate`` checks a document locally (no database); ``register`` checks it against the
registered schemas in the tracking database, then enqueues ``plugin_db.register_schema``.
``show``, ``conflicts`` and ``export`` read ``extension_schemas``; ``export`` covers the live
schemas (activated, not unregistered). Text output is printed verbatim (no markup), since
Prisma's ``[field]`` lists would otherwise be read as styles.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer
from sqlalchemy import select

from providers.registry import get_provider_class
from worker.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    JsonOpt,
    WaitOpt,
    emit,
    enqueue,
    fail,
    sessions,
    settings,
)
from worker.errors import SchemaDocumentError
from worker.schema import (
    ExtensionDatabaseSchema,
    detect_conflicts,
    export_prisma,
    export_sql,
    export_sqlalchemy,
    json_schema,
    validate_document,
)
from worker.schema.ddl import dialect_of
from worker.schema.registry import check_registration, document_of, registered
from worker.states import Kind
from worker.tracking.models import ExtensionSchema, PluginDatasource

schema_app = typer.Typer(help="The declarative schema registry (seeds/003).", no_args_is_help=True)
FileArg = typer.Argument(..., help="An ExtensionDatabaseSchema JSON document.")
PluginOpt = typer.Option(None, "--plugin", help="The plugin registering it.")
ForceOpt = typer.Option(False, "--force", help="Allow destructive changes.")
FormatOpt = typer.Option(..., "--format", help="sql, prisma or sqlalchemy.")
DialectOpt = typer.Option(
    None,
    "--dialect",
    help="Target database (sql and prisma); default: the plugin's with --plugin, else postgresql.",
)
OnlyOpt = typer.Option(
    None, "--plugin", help="Export this plugin's live schema only (Prisma models lose the prefix)."
)
DocOpt = typer.Option(
    None, "--file", help="Export this document (validated, not registered) instead of the registry."
)
OutputOpt = typer.Option(
    None, "--output", help="Prisma: use the prisma-client generator writing to this folder."
)


class ExportFormat(StrEnum):
    """What ``export`` writes."""

    SQL = "sql"
    PRISMA = "prisma"
    SQLALCHEMY = "sqlalchemy"


class Dialect(StrEnum):
    """Target database of ``export --format sql``."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"


def _read(path: Path, as_json: bool) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", EXIT_BAD_INPUT, as_json)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        fail(f"{path} is not a JSON document: {exc}", EXIT_BAD_INPUT, as_json)


def _problems(exc: SchemaDocumentError, as_json: bool) -> NoReturn:
    """Report every problem (one per line) and exit with status 2."""
    if as_json:
        emit({"valid": False, "error": str(exc).split(":")[0], "problems": exc.problems}, True)
    else:
        for problem in exc.problems:
            typer.echo(problem, err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@schema_app.command()
def validate(
    file: Path = FileArg,
    plugin: str | None = PluginOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Validate a document locally; every problem is printed with its JSON path."""
    try:
        doc = validate_document(_read(file, as_json), plugin)
    except SchemaDocumentError as exc:
        _problems(exc, as_json)
    tables, enums = [t.name for t in doc.tables], [e.name for e in doc.enums]
    data = {"valid": True, "plugin_id": doc.plugin_id, "version": doc.version}
    emit(
        {**data, "tables": tables, "enums": enums},
        as_json,
        f"valid: {doc.plugin_id} {doc.version} ({len(tables)} tables, {len(enums)} enums)",
    )


@schema_app.command()
def register(
    plugin_id: str,
    file: Path = FileArg,
    force: bool = ForceOpt,
    wait: bool = WaitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Check a document against the registry, then enqueue plugin_db.register_schema."""
    data = _read(file, as_json)
    try:
        check_registration(sessions(), plugin_id, data)
    except SchemaDocumentError as exc:
        _problems(exc, as_json)
    request = {"plugin_id": plugin_id, "schema": data, "force": force}
    enqueue(Kind.REGISTER_SCHEMA, request, wait, as_json)


@schema_app.command()
def unregister(plugin_id: str, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Enqueue plugin_db.unregister_schema (the tables are kept until teardown --purge)."""
    enqueue(Kind.UNREGISTER_SCHEMA, {"plugin_id": plugin_id}, wait, as_json)


def _row_json(row: ExtensionSchema) -> dict[str, Any]:
    return {
        "plugin_id": row.plugin_id,
        "version": row.version,
        "status": row.status,
        "registered_at": row.registered_at,
        "activated_at": row.activated_at,
        "deactivated_at": row.deactivated_at,
        "last_error": row.last_error,
        "validation_errors": row.validation_errors,
        "created_by": row.created_by,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
        "schema_definition": row.schema_definition,
    }


@schema_app.command()
def show(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """A plugin's registered schema: status, version, errors and tables."""
    with sessions()() as session:
        row = session.scalars(select(ExtensionSchema).filter_by(plugin_id=plugin_id)).first()
    if row is None:
        fail(f"{plugin_id!r} has no registered schema", EXIT_BAD_INPUT, as_json)
    data = _row_json(row)
    if as_json:
        emit(data, True)
        return
    lines = [f"{k:>17}: {v}" for k, v in data.items() if k != "schema_definition" and v]
    doc = document_of(row)
    lines += [f"{'table':>17}: {t.name}" for t in (doc.tables if doc else [])]
    typer.echo("\n".join(lines))


@schema_app.command()
def conflicts(as_json: bool = JsonOpt) -> None:
    """Conflicts between every row of extension_schemas; exit status 1 if there are any."""
    with sessions()() as session:
        rows = list(session.scalars(select(ExtensionSchema).order_by(ExtensionSchema.plugin_id)))
    docs = [doc for doc in map(document_of, rows) if doc is not None]
    found = detect_conflicts(docs)
    data = [
        {"kind": c.kind, "plugins": list(c.plugins), "object": c.object, "message": c.message}
        for c in found
    ]
    if as_json:
        emit({"schemas": len(docs), "conflicts": data}, True)
    else:
        for c in found:
            typer.echo(f"{c.kind} {c.object} ({', '.join(c.plugins)}): {c.message}")
        typer.echo(f"{len(found)} conflicts among {len(docs)} schemas")
    if found:
        raise typer.Exit(EXIT_FAILED)


def _plugin_dialect(plugin_id: str, as_json: bool) -> Dialect:
    """The dialect of the plugin's storage (shared mode: the shared database's)."""
    with sessions()() as session:
        ds = session.get(PluginDatasource, plugin_id)
    if ds is None:
        fail(f"{plugin_id!r} is not provisioned", EXIT_BAD_INPUT, as_json)
    provider = get_provider_class(ds.provider).from_settings(settings())
    return Dialect(dialect_of(provider.dialect))


def _export_docs(
    plugin_id: str | None, file: Path | None, as_json: bool
) -> list[ExtensionDatabaseSchema]:
    if file is not None:
        try:
            return [validate_document(_read(file, as_json), plugin_id)]
        except SchemaDocumentError as exc:
            _problems(exc, as_json)
    with sessions()() as session:
        docs = registered(session, live_only=True)
    if plugin_id is None:
        return docs
    docs = [d for d in docs if d.plugin_id == plugin_id]
    if not docs:
        fail(f"{plugin_id!r} has no live schema", EXIT_BAD_INPUT, as_json)
    return docs


@schema_app.command()
def export(
    fmt: ExportFormat = FormatOpt,
    dialect: Dialect | None = DialectOpt,
    plugin_id: str | None = OnlyOpt,
    file: Path | None = DocOpt,
    output: str | None = OutputOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Export the live schemas: SQL for a fresh database, a Prisma schema or SQLAlchemy models."""
    docs = _export_docs(plugin_id, file, as_json)
    if dialect is None and file is not None:
        dialect = Dialect.POSTGRESQL
    if dialect is None:
        dialect = _plugin_dialect(plugin_id, as_json) if plugin_id else Dialect.POSTGRESQL
    if fmt is ExportFormat.SQL:
        text = export_sql(docs, dialect.value)
    elif fmt is ExportFormat.PRISMA:
        text = export_prisma(docs, provider=dialect.value, output=output)
    else:
        text = export_sqlalchemy(docs)
    if as_json:
        plugins = [d.plugin_id for d in docs]
        emit(
            {"format": fmt.value, "dialect": dialect.value, "plugins": plugins, "text": text}, True
        )
    else:
        typer.echo(text, nl=not text.endswith("\n"))


@schema_app.command("json-schema")
def print_json_schema(as_json: bool = JsonOpt) -> None:
    """The published JSON Schema of an ExtensionDatabaseSchema document (always JSON)."""
    typer.echo(json.dumps(json_schema(), indent=2))

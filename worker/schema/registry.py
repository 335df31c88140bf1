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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from worker.errors import (
    LeaseLost,
    ProviderError,
    RequestRejected,
    SchemaDocumentError,
    TransientError,
)
from worker.logging import redact_text
from worker.naming import bounded
from worker.port import Change, PluginPort
from worker.schema import (
    CORE_TABLES,
    ExtensionDatabaseSchema,
    detect_conflicts,
    referenceable,
    validate_document,
)
from worker.schema.authoring import normalize
from worker.states import DsStatus
from worker.tracking.db import tracking_errors
from worker.tracking.models import (
    ExtensionSchema,
    PluginDatasource,
    utcnow,
)

VALIDATING, FAILED = "validating", "failed"
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


def find_row(session: Session, plugin_id: str) -> ExtensionSchema | None:
    """The plugin's ``extension_schemas`` row, if any."""
    return session.scalars(select(ExtensionSchema).filter_by(plugin_id=plugin_id)).first()


def row_of(session: Session, plugin_id: str, actor: str | None) -> ExtensionSchema:
    """The plugin's ``extension_schemas`` row in ``session``, created if missing."""
    row = find_row(session, plugin_id)
    if row is None:
        row = ExtensionSchema(plugin_id=plugin_id, registered_at=utcnow(), created_by=actor)
        session.add(row)
    return row


def adopt(row: ExtensionSchema, definition: dict[str, Any], version: str) -> None:
    """Take the document being registered unless a live one describes the database."""
    if not is_live(row) or row.schema_definition is None:
        row.schema_definition, row.version = definition, version


@contextmanager
def recording_failure(port: PluginPort, raw: dict[str, Any]) -> Iterator[None]:
    """Record the plugin's row as failed (with its problems) when the block fails for good."""
    try:
        yield
    except (TransientError, LeaseLost):
        raise
    except Exception as exc:
        version = raw.get("version")
        shown = version if isinstance(version, str) and 0 < len(version) <= 50 else "unknown"
        error = redact_text(str(exc))
        problems = exc.problems if isinstance(exc, RequestRejected) else None

        def failed(session: Session) -> None:
            row = row_of(session, port.plugin_id, port.actor)
            adopt(row, raw, shown)
            row.status, row.last_error, row.validation_errors = FAILED, error, problems
            row.updated_by = port.actor

        port.journal.write(failed)
        raise


def begin_registration(port: PluginPort, raw: dict[str, Any]) -> tuple[dict[str, Any], Change]:
    """Check the document and the datasource; the row becomes ``validating``."""
    with recording_failure(port, raw):
        doc = check_registration(port.sessions, port.plugin_id, raw)
        with port.sessions() as session:
            ds = session.get(PluginDatasource, port.plugin_id)
        if ds is None or ds.status != DsStatus.READY:
            status = ds.status if ds else "not provisioned"
            raise ProviderError(f"{port.plugin_id} is {status}; its datasource must be ready")
    definition = doc.model_dump(mode="json", by_alias=True, exclude_none=True)

    def apply(session: Session) -> None:
        row = row_of(session, port.plugin_id, port.actor)
        adopt(row, definition, doc.version)
        row.status, row.last_error, row.validation_errors = VALIDATING, None, None
        row.updated_by = port.actor

    return {"version": doc.version, "tables": len(doc.tables), "enums": len(doc.enums)}, apply

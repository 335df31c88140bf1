"""The schema registry's glue: ``extension_schemas`` rows and the work of the schema steps.

* A row's ``schema_definition`` and ``version`` describe the schema live in the plugin's
  database once one was activated (before that, the document being registered); ``status``,
  ``last_error`` and ``validation_errors`` describe the latest registration.
* *Registered* schemas (used for conflicts, cross-plugin references and exports) are the rows
  being validated and the live ones: activated and not deactivated.
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
from worker.schema.parse import parse_document
from worker.states import DsStatus
from worker.tracking.db import tracking_errors
from worker.tracking.models import (
    ExtensionSchema,
    MigrationAttempt,
    PluginDatasource,
    PluginMigration,
    utcnow,
)

if TYPE_CHECKING:
    from worker.lifecycle.context import StepContext

Apply = Callable[[Session], None]
ACTIVE, VALIDATING, FAILED, PENDING = "active", "validating", "failed", "pending"
DIALECT_URLS = {
    "sqlite": "sqlite://",
    "postgres": "postgresql+psycopg://",
    "mysql": "mysql+pymysql://",
}
MAX_LISTED = 50


def is_live(row: ExtensionSchema) -> bool:
    """Whether the row's schema is activated and not deactivated."""
    return row.activated_at is not None and row.deactivated_at is None


def document_of(row: ExtensionSchema) -> ExtensionDatabaseSchema | None:
    """The row's stored document, or None if it no longer parses."""
    try:
        return ExtensionDatabaseSchema.model_validate(row.schema_definition)
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



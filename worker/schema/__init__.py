"""Declarative plugin schemas (``ExtensionDatabaseSchema``, ``seeds/003``): a pure library.

* ``validate_document`` — parse and check a document, every problem at its JSON path.
* ``detect_conflicts`` — conflicts between the documents of all registered plugins.
* ``to_metadata`` / ``metadata_for`` — SQLAlchemy Core metadata per dialect.
* ``plan_changes`` / ``apply_plan`` — DDL between a live database and a document.
* ``export_sql`` / ``export_prisma`` / ``export_sqlalchemy`` — exports of all registered schemas.
"""

from worker.errors import DestructiveChangeRefused
from worker.schema.conflicts import Conflict, detect_conflicts
from worker.schema.ddl import creatable, metadata_for, to_metadata
from worker.schema.export import export_prisma, export_sql, export_sqlalchemy, sql_statements
from worker.schema.model import ExtensionDatabaseSchema, json_schema
from worker.schema.plan import Plan, apply_plan, plan_changes
from worker.schema.validate import CORE_TABLES, check_document, referenceable, validate_document

__all__ = [
    "CORE_TABLES",
    "Conflict",
    "DestructiveChangeRefused",
    "ExtensionDatabaseSchema",
    "Plan",
    "apply_plan",
    "check_document",
    "creatable",
    "detect_conflicts",
    "export_prisma",
    "export_sql",
    "export_sqlalchemy",
    "json_schema",
    "metadata_for",
    "plan_changes",
    "referenceable",
    "sql_statements",
    "to_metadata",
    "validate_document",
]

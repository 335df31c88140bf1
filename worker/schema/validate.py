"""Validation of an ``ExtensionDatabaseSchema`` document, reporting every problem at its JSON path.

Rules beyond the structure (``model.py``):

* ``pluginId`` is a valid plugin id (``worker.naming``) and equals the registering plugin.
* ``metadata.namespace`` and every ``tables[].namespace`` equal the plugin namespace ``ns``
  (the id with '-' as '_'); every table and enum name starts with ``ns_`` and is longer than it.
* Core platform tables (``RESERVED_TABLES`` and the ``core_tables`` keys), names starting
  with ``pg_`` or ``sqlite_`` and names Prisma reserves (``prisma_client``) are refused even
  when they carry the prefix (plugin ``plugin`` may not declare ``plugin_registry``).
* Names may be written PascalCase, camelCase or snake_case, with or without the plugin prefix;
  ``authoring.py`` maps them to the stored form (snake_case, prefixed) before these checks.
* A declared ``id`` field is the primary key with its type (String: a UUID the client fills
  in, Int: auto-incremented); without one, ``id`` is added as a UUID string. Field names are
  unique within a table; table, enum, index and constraint names are unique across the
  document (PostgreSQL and MySQL share those namespaces).
* Relationships: ``source`` is a declared table, ``target`` a declared table or a key of
  ``core_tables`` (whose values are the referenceable, unique columns). The referenced column
  is ``id`` or a single-field unique column. OneToOne/OneToMany put the foreign key on
  ``sourceField`` (any field but ``id``, typed like the referenced column); ManyToMany links
  ``sourceField`` (``id`` or unique) through a join table.
* Indexes and unique constraints name declared fields (or ``id``), never a Json field or a
  String longer than 4000, and at most 768 String characters in all (MySQL's key limit).
* Caps: 500 tables, 1,500 fields per table, 50,000 fields in all, names of 63 bytes, JSON
  nesting of 32 levels; at most 200 problems are listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from worker.errors import ManifestError, SchemaDocumentError
from worker.naming import check_plugin_id, namespace
from worker.schema import names
from worker.schema.model import (
    ExtensionDatabaseSchema,
    ExtensionField,
    ExtensionTable,
)
from worker.schema.parse import capped, parse_document
from worker.schema.relations import relationship_problems
from worker.schema.rules import TEXT_THRESHOLD, field_problems, string_length

MAX_TOTAL_FIELDS = 50_000
MAX_INDEX_CHARS = 768  # 3072 bytes of utf8mb4: MySQL's key length limit
CORE_TABLES: Mapping[str, frozenset[str]] = {
    "users": frozenset({"id"}),
    "tenants": frozenset({"id"}),
    "layers": frozenset({"id"}),
    "work_orders": frozenset({"id"}),
    "equipment": frozenset({"id"}),
}
RESERVED_TABLES = frozenset(
    {
        *("users", "tenants", "layers", "feature_flags", "plugin_registry", "work_orders"),
        *("equipment", "sessions", "accounts", "roles", "permissions", "settings", "data"),
        *("audit_events", "audit_logs", "notifications", "organizations", "sites", "assets"),
        *("plugin_datasources", "lifecycle_operations", "plugin_migrations", "plugin_db_history"),
        *("extension_schemas", "extension_migrations", "migration_records", "alembic_version"),
        "_prisma_migrations",
    }
)
RESERVED_PREFIXES = ("pg_", "sqlite_")
PRISMA_RESERVED = frozenset({"PrismaClient", "Prisma"})
ID_TYPES = ("String", "Int")


def validate_document(
    data: object,
    plugin_id: str | None = None,
    core_tables: Mapping[str, frozenset[str] | set[str]] = CORE_TABLES,
) -> ExtensionDatabaseSchema:
    """Parse and check a decoded document; raise SchemaDocumentError listing every problem."""
    doc = parse_document(data)
    problems = check_document(doc, plugin_id, core_tables)
    if problems:
        raise SchemaDocumentError("invalid schema document", capped(problems))
    return doc


def check_document(
    doc: ExtensionDatabaseSchema,
    plugin_id: str | None = None,
    core_tables: Mapping[str, frozenset[str] | set[str]] = CORE_TABLES,
) -> list[str]:
    """Every semantic problem of an already parsed document (empty when it is valid)."""
    problems = _plugin_problems(doc, plugin_id)
    total = sum(len(t.fields) for t in doc.tables)
    if total > MAX_TOTAL_FIELDS:
        problems.append(f"tables: {total} fields in all; at most {MAX_TOTAL_FIELDS} allowed")
    for i, table in enumerate(doc.tables):
        problems.extend(_table_problems(doc, i, table, core_tables))
    problems.extend(_enum_problems(doc, core_tables))
    problems.extend(relationship_problems(doc, core_tables))
    problems.extend(_collisions(doc))
    return problems


def referenceable(docs: list[ExtensionDatabaseSchema]) -> dict[str, frozenset[str]]:
    """Tables of registered documents with their referenceable columns, to extend core_tables."""
    return {
        t.name: frozenset(c for c in ["id", *(f.name for f in t.fields)] if names.is_unique(t, c))
        for doc in docs
        for t in doc.tables
    }


def _plugin_problems(doc: ExtensionDatabaseSchema, plugin_id: str | None) -> list[str]:
    problems: list[str] = []
    try:
        check_plugin_id(doc.plugin_id, "pluginId")
    except ManifestError as exc:
        problems.extend(exc.problems)
    if plugin_id is not None and doc.plugin_id != plugin_id:
        problems.append(
            f"pluginId: {doc.plugin_id!r} does not match the registering plugin {plugin_id!r}"
        )
    ns = namespace(doc.plugin_id)
    if doc.metadata.namespace != ns:
        problems.append(f"metadata.namespace: must be the plugin namespace {ns!r}")
    return problems


def _owned_name_problem(
    doc: ExtensionDatabaseSchema, name: str, core: Mapping[str, Any]
) -> str | None:
    pre = names.prefix(doc.plugin_id)
    if name in RESERVED_TABLES or name in core:
        return f"{name!r} is a core platform name; choose another name starting with {pre!r}"
    if name.startswith(RESERVED_PREFIXES):
        return f"{name!r} starts with a prefix reserved by the database; choose another name"
    if not name.startswith(pre) or name == pre:
        return f"{name!r} must start with the plugin prefix {pre!r} (e.g. '{pre}items')"
    if names.pascal(name) in PRISMA_RESERVED:
        return f"{name!r} becomes the Prisma name {names.pascal(name)}, which Prisma reserves"
    return None


def _table_problems(
    doc: ExtensionDatabaseSchema,
    i: int,
    table: ExtensionTable,
    core: Mapping[str, Any],
) -> Iterator[str]:
    where = f"tables[{i}]"
    reason = _owned_name_problem(doc, table.name, core)
    if reason:
        yield f"{where}.name: {reason}"
    ns = namespace(doc.plugin_id)
    if table.namespace != ns:
        yield f"{where}.namespace: must be the plugin namespace {ns!r}, not {table.namespace!r}"
    seen: set[str] = set()
    for j, field in enumerate(table.fields):
        fwhere = f"{where}.fields[{j}]"
        if field.name == names.ID_COLUMN:
            yield from _id_problems(field, fwhere)
        if field.name in seen:
            yield f"{fwhere}.name: {field.name!r} is declared twice in this table"
        seen.add(field.name)
        enum = doc.enum(field.type)
        if field.type[0].islower() and enum is None:
            yield f"{fwhere}.type: unknown type {field.type!r}; declare it in enums or use a scalar"
        yield from field_problems(field, fwhere, enum)
    yield from _key_problems(doc, table, where)


def _id_problems(field: ExtensionField, where: str) -> Iterator[str]:
    if field.type not in ID_TYPES:
        yield (
            f"{where}.type: the primary key 'id' is {field.type}; declare it String (a UUID the "
            "client generates) or Int (auto-incremented)"
        )
    if not field.required:
        yield f"{where}.required: the primary key 'id' is always required; set required: true"
    if field.default is not None:
        yield f"{where}.default: the primary key 'id' is generated; remove its default"


def _key_problems(doc: ExtensionDatabaseSchema, table: ExtensionTable, where: str) -> Iterator[str]:
    columns: dict[str, ExtensionField | None] = {names.ID_COLUMN: None}
    columns.update({f.name: f for f in table.fields})
    groups = [
        ("indexes", [(k.name, k.fields, k.unique) for k in table.indexes]),
        ("uniqueConstraints", [(k.name, k.fields, True) for k in table.unique_constraints]),
    ]
    pre = names.prefix(doc.plugin_id)
    seen: dict[tuple[bool, tuple[str, ...]], str] = {}
    for kind, keys in groups:
        for j, (name, fields, unique) in enumerate(keys):
            kwhere = f"{where}.{kind}[{j}]"
            if name is not None and not name.startswith(pre):
                yield f"{kwhere}.name: {name!r} must start with the plugin prefix {pre!r}"
            key = (unique, tuple(fields))
            if key in seen:
                yield f"{kwhere}.fields: the same key as {seen[key]}; remove one of them"
            seen.setdefault(key, kwhere)
            yield from _key_field_problems(columns, table.name, f"{kwhere}.fields", fields)


def _key_field_problems(
    columns: Mapping[str, ExtensionField | None], table: str, where: str, fields: list[str]
) -> Iterator[str]:
    if len(set(fields)) != len(fields):
        yield f"{where}: lists a field twice"
    chars = 0
    for name in fields:
        if name not in columns:
            yield f"{where}: {name!r} is not a field of table {table!r}"
            continue
        field = columns[name]
        if field is not None and field.type == "Json":
            yield f"{where}: Json field {name!r} cannot be indexed"
        elif field is not None and field.type == "String":
            if string_length(field) > TEXT_THRESHOLD:
                yield f"{where}: {name!r} is longer than {TEXT_THRESHOLD} and cannot be indexed"
            chars += string_length(field)
    if chars > MAX_INDEX_CHARS:
        yield (
            f"{where}: indexes {chars} characters of String; at most {MAX_INDEX_CHARS} fit "
            "(set validation.maxLength on these fields)"
        )


def _enum_problems(doc: ExtensionDatabaseSchema, core: Mapping[str, Any]) -> Iterator[str]:
    for i, enum in enumerate(doc.enums):
        where = f"enums[{i}]"
        reason = _owned_name_problem(doc, enum.name, core)
        if reason:
            yield f"{where}.name: {reason}"
        folded = Counter(v.lower() for v in enum.values)
        for j, value in enumerate(enum.values):
            if folded[value.lower()] > 1:
                yield f"{where}.values[{j}]: {value!r} is duplicated (values compare case-blind)"
        for locale, labels in (enum.localization or {}).items():
            for value in labels:
                if value not in enum.values:
                    yield f"{where}.localization.{locale}.{value}: not a value of this enum"


def _collisions(doc: ExtensionDatabaseSchema) -> Iterator[str]:
    declared = Counter([t.name for t in doc.tables] + [e.name for e in doc.enums])
    if any(count > 1 for count in declared.values()):
        # report the declared duplicates only: derived names would repeat the same clash
        for i, table in enumerate(doc.tables):
            if declared[table.name] > 1:
                yield f"tables[{i}].name: {table.name!r} is declared more than once"
        for i, enum in enumerate(doc.enums):
            if declared[enum.name] > 1:
                yield f"enums[{i}].name: {enum.name!r} is declared more than once"
        return
    first: dict[str, str] = {}
    for name, what in names.global_names(doc):
        if name in first and first[name] != what:
            yield f"{what}: the name {name!r} is already used by {first[name]}; rename one of them"
        first.setdefault(name, what)

"""Plan the DDL that brings a live database to a document's schema (Alembic autogenerate).

Only the plugin's own tables are compared: names that start with its prefix and are not owned by
a longer registered prefix (``other_plugins``), never core tables or stubs. The plan renders
SQL for the connection's dialect in Alembic's offline (``as_sql``) mode; DOWN reverses UP.

Destructive changes (drop table, drop column, narrowing or changing a type) are refused with
:class:`DestructiveChangeRefused` unless ``force=True``; the plan counts the rows at risk.
Changes no flag can make work (a required field without default added to a table with rows,
making a field required while rows hold NULL, reshaping a PostgreSQL enum) raise
:class:`SchemaDocumentError`. Server defaults and the bounds of existing CHECK constraints are
not compared (change them with a migration file); CHECK constraints are added and dropped by name.
On SQLite, anything but adding a plain column or an index rebuilds the table (``rebuild.py``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops

from worker.errors import DestructiveChangeRefused, SchemaDocumentError
from worker.schema import names
from worker.schema.changes import Change, Survey, check_changes, describe, in_place_on_sqlite
from worker.schema.ddl import EXTERNAL, creatable, dialect_of, metadata_for
from worker.schema.dialects import traits
from worker.schema.model import ExtensionDatabaseSchema
from worker.schema.pgenum import enum_changes
from worker.schema.rebuild import check_texts, rebuild_steps, reflected_checks


@dataclass(frozen=True)
class Plan:
    """SQL to apply (``up_sql``) and to revert (``down_sql``), and what it changes."""

    up_sql: list[str]
    down_sql: list[str]
    destructive: list[str]
    additive: list[str]
    data_at_risk: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether the database already matches the document."""
        return not self.up_sql


def plan_changes(
    doc: ExtensionDatabaseSchema,
    connection: sa.Connection,
    *,
    force: bool,
    schema: str | None = None,
    other_plugins: Iterable[str] = (),
) -> Plan:
    """Compare ``doc`` with the live database and plan the DDL between them."""
    dialect = dialect_of(connection.dialect.name)
    plugins = [doc.plugin_id, *(p for p in other_plugins if p != doc.plugin_id)]
    md = metadata_for([doc], dialect, schema, create_types=False)
    upgrade = _diff(doc, connection, md, schema, plugins)
    survey = Survey(connection, schema)
    head: list[Change] = []
    tail: list[Change] = []
    problems = _missing_targets(md, survey.inspector, schema)
    if traits(dialect).native_enums:
        head, tail, refused = enum_changes(doc, connection, schema, plugins)
        problems += refused
    if traits(dialect).rebuilds_tables:
        body = list(_sqlite_changes(upgrade, md, connection, survey, problems))
    else:
        drops, adds = check_changes(md, survey.inspector, schema)
        body = [*drops, *_alter_changes(upgrade, survey, problems, dialect), *adds]
    plan = _plan([*head, *body, *tail], connection.dialect, survey.risk)
    if problems:
        raise SchemaDocumentError("schema change not possible", problems)
    if plan.destructive and not force:
        raise DestructiveChangeRefused(plan)
    return plan


def apply_plan(plan: Plan, connection: sa.Connection, *, down: bool = False) -> None:
    """Run the plan's UP (or DOWN) statements on ``connection``; the caller commits."""
    for statement in plan.down_sql if down else plan.up_sql:
        connection.exec_driver_sql(statement)


def _diff(
    doc: ExtensionDatabaseSchema,
    connection: sa.Connection,
    md: sa.MetaData,
    schema: str | None,
    plugins: list[str],
) -> ops.UpgradeOps:
    def include_name(name: str | None, type_: str, parent: Any) -> bool:
        if type_ == "schema":
            return name == schema
        if type_ == "table":
            return name is not None and names.owner(name, plugins) == doc.plugin_id
        return True

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        return not (type_ == "table" and obj.info.get(EXTERNAL))

    opts = {
        "target_metadata": md,
        "include_name": include_name,
        "include_object": include_object,
        "include_schemas": schema is not None,
        "compare_type": True,
    }
    context = MigrationContext.configure(connection, opts=opts)
    upgrade = produce_migrations(context, md).upgrade_ops
    assert upgrade is not None
    return upgrade


def _missing_targets(md: sa.MetaData, inspector: sa.Inspector, schema: str | None) -> list[str]:
    """Foreign keys may only point at tables that exist (core tables, other plugins' tables)."""
    return [
        f"{table.name}: the table this plugin's foreign keys reference does not exist in the "
        "database; create it (or register the plugin that owns it) first"
        for table in md.tables.values()
        if table.info.get(EXTERNAL) and not inspector.has_table(table.name, schema=schema)
    ]


def _flat(items: Iterable[ops.MigrateOperation]) -> Iterator[ops.MigrateOperation]:
    for op in items:
        if isinstance(op, ops.ModifyTableOps):
            yield from op.ops
        else:
            yield op


def _alter_changes(
    upgrade: ops.UpgradeOps, survey: Survey, problems: list[str], dialect: str
) -> Iterator[Change]:
    created = {op.table_name for op in upgrade.ops if isinstance(op, ops.CreateTableOp)}
    for op in _flat(upgrade.ops):
        if traits(dialect).native_enums and _enum_retype(op):
            continue  # enum types are compared by pgenum
        change = describe(op, survey, problems)
        if isinstance(op, ops.CreateIndexOp) and op.table_name in created:
            change.down = []  # dropped with its table (MySQL refuses to drop a FK's index first)
        yield change


def _enum_retype(op: ops.MigrateOperation) -> bool:
    if not isinstance(op, ops.AlterColumnOp) or op.modify_type is None:
        return False
    return isinstance(op.modify_type, sa.Enum) and isinstance(op.existing_type, sa.Enum)


def _sqlite_changes(
    upgrade: ops.UpgradeOps,
    md: sa.MetaData,
    connection: sa.Connection,
    survey: Survey,
    problems: list[str],
) -> Iterator[Change]:
    existing = set(survey.inspector.get_table_names())
    rebuilt: set[str] = set()
    for op in upgrade.ops:
        if not isinstance(op, ops.ModifyTableOps):
            yield describe(op, survey, problems)
            continue
        found = [describe(inner, survey, problems) for inner in op.ops]
        table = md.tables[f"{md.schema}.{op.table_name}" if md.schema else op.table_name]
        if all(in_place_on_sqlite(inner, table) for inner in op.ops) and _same_checks(
            table, connection, survey
        ):
            yield from found
            continue
        rebuilt.add(op.table_name)
        yield _rebuild(table, connection, found)
    for table in creatable(md):
        stale = table.name in existing and table.name not in rebuilt
        if stale and not _same_checks(table, connection, survey):
            yield _rebuild(table, connection, [Change("update CHECK constraints", [], [])])


def _same_checks(table: sa.Table, connection: sa.Connection, survey: Survey) -> bool:
    if table.name not in survey.inspector.get_table_names():
        return True
    expected = check_texts(table, connection.dialect)
    return expected == reflected_checks(survey.inspector, table.name, table.schema)


def _rebuild(table: sa.Table, connection: sa.Connection, found: list[Change]) -> Change:
    old = sa.Table(table.name, sa.MetaData(schema=table.schema), autoload_with=connection)
    text = f"rebuild table {table.name}: " + "; ".join(c.text for c in found)
    destructive = any(c.destructive for c in found)
    return Change(text, rebuild_steps(old, table), rebuild_steps(table, old), destructive)


class _Statements(io.StringIO):
    """Output buffer of an offline migration context: one write per statement."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[str] = []

    def write(self, text: str) -> int:
        statement = text.strip().removesuffix(";").strip()
        if statement:
            self.statements.append(statement)
        return len(text)


def _render(items: Iterable[Any], dialect: sa.Dialect) -> list[str]:
    buffer = _Statements()
    opts = {"as_sql": True, "output_buffer": buffer, "literal_binds": True}
    operations = Operations(MigrationContext.configure(dialect=dialect, opts=opts))
    for item in items:
        if isinstance(item, ops.MigrateOperation):
            operations.invoke(item)
        else:
            operations.execute(item)
    return buffer.statements


def _plan(changes: list[Change], dialect: sa.Dialect, risk: dict[str, int]) -> Plan:
    up = [item for change in changes for item in change.up]
    down = [item for change in reversed(changes) for item in change.down]
    return Plan(
        up_sql=_render(up, dialect),
        down_sql=_render(down, dialect),
        destructive=[c.text for c in changes if c.destructive],
        additive=[c.text for c in changes if not c.destructive],
        data_at_risk=dict(risk),
    )

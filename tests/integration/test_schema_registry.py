"""The declarative schema registry through a real worker: register, evolve, refuse, CLI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from providers.base import Login, Provider
from providers.registry import get_provider_class
from tests.support.env import unique_id
from tests.support.seed import seed_doc
from tests.support.stack import Stack, write_plugin
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.secrets import SecretBox, load
from worker.settings import Settings
from worker.tracking.models import ExtensionSchema

Doc = dict[str, Any]


def report_doc(plugin_id: str, version: str, *, body: bool = True, summary: bool = False) -> Doc:
    """A CustomReport-style document: reports with an enum status, and comments on them."""
    ns = plugin_id.replace("-", "_")
    fields: list[Doc] = [
        {
            "name": "title",
            "type": "String",
            "required": True,
            "validation": {"minLength": 1, "maxLength": 200},
        },
        {"name": "status", "type": f"{ns}_status", "required": True, "default": "draft"},
        {"name": "views", "type": "Int", "required": True, "default": 0, "validation": {"min": 0}},
        {"name": "created_at", "type": "DateTime", "required": True, "default": "now"},
    ]
    if body:
        fields.insert(
            1,
            {
                "name": "body",
                "type": "String",
                "required": False,
                "validation": {"maxLength": 2000},
            },
        )
    if summary:
        fields.append({"name": "summary", "type": "String", "required": False})
    indexes = [{"fields": ["status", "created_at"]}] + ([{"fields": ["views"]}] if summary else [])
    comment = [
        {"name": "report_id", "type": "String", "required": True},
        {"name": "text", "type": "String", "required": True, "validation": {"maxLength": 500}},
    ]
    return {
        "pluginId": plugin_id,
        "version": version,
        "tables": [
            {
                "name": f"{ns}_report",
                "namespace": ns,
                "fields": fields,
                "indexes": indexes,
                "uniqueConstraints": [{"fields": ["title"]}],
            },
            {"name": f"{ns}_comment", "namespace": ns, "fields": comment},
        ],
        "enums": [{"name": f"{ns}_status", "values": ["draft", "published", "archived"]}],
        "relationships": [
            {
                "source": f"{ns}_comment",
                "sourceField": "report_id",
                "target": f"{ns}_report",
                "targetField": "id",
                "type": "OneToMany",
            }
        ],
        "metadata": {"namespace": ns, "description": "custom reports", "author": "tests"},
    }


def provision(stack: Stack, mode: str, prefix: str = "sr") -> str:
    plugin_id = unique_id(prefix)
    write_plugin(stack.plugins_root, plugin_id, mode, {})
    op = stack.run("plugin_db.provision", {"plugin_id": plugin_id})
    assert op.state == "succeeded", op.error
    return plugin_id


def register(stack: Stack, plugin_id: str, doc: Doc, **extra: Any) -> Any:
    request = {"plugin_id": plugin_id, "schema": doc, "requested_by": "alice", **extra}
    return stack.run("plugin_db.register_schema", request, timeout=90)


def schema_row(stack: Stack, plugin_id: str) -> ExtensionSchema | None:
    with stack.sessions() as session:
        return session.scalars(select(ExtensionSchema).filter_by(plugin_id=plugin_id)).first()


class PluginDb:
    """The plugin's own storage, reached through its own login like the plugin itself."""

    def __init__(self, stack: Stack, plugin_id: str) -> None:
        settings = Settings.from_env(stack.env)
        ds = stack.datasource(plugin_id)
        assert ds is not None
        self.provider: Provider = get_provider_class(ds.provider).from_settings(settings)
        self.spec = spec_for(parse_manifest(ds.manifest))
        with stack.sessions() as session:
            payload = load(session, SecretBox.from_settings(settings), ds.secrets_ref)
        self.login = None
        if payload is not None:
            active = payload["active"]
            self.login = Login(
                self.provider.describe(self.spec, active).username or "", payload["slots"][active]
            )

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(self.provider.connect(self.spec, self.login)) as conn:
            cursor = conn.cursor()
            cursor.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    def columns(self, table: str) -> list[str]:
        return [d[0] for d in self._description(f"SELECT * FROM {table} WHERE 1 = 0")]

    def _description(self, sql: str) -> Any:
        with closing(self.provider.connect(self.spec, self.login)) as conn:
            cursor = conn.cursor()
            cursor.execute(sql)
            return cursor.description


@pytest.fixture
def purge_after(stack: Stack) -> Iterator[list[str]]:
    """Plugins to purge at the end (PostgreSQL roles and schemas outlive the test otherwise)."""
    plugins: list[str] = []
    yield plugins
    for plugin_id in plugins:
        stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True})


@pytest.mark.parametrize("mode", ["exclusive-sqlite", "exclusive-postgres"])
def test_register_evolve_refuse_destructive_then_force(
    stack: Stack, mode: str, purge_after: list[str]
) -> None:
    """Register; add a column (ALTER only); refuse a dropped column unless forced, then force it."""
    plugin_id = provision(stack, mode)
    purge_after.append(plugin_id)
    ns = plugin_id.replace("-", "_")
    report, comment = f"{ns}_report", f"{ns}_comment"

    op = register(stack, plugin_id, report_doc(plugin_id, "1.0.0"))
    assert op.state == "succeeded", op.error
    assert [s["name"] for s in op.steps] == ["validate_schema", "apply_schema", "activate_schema"]
    assert op.result["tables"] == [report, comment]
    db = PluginDb(stack, plugin_id)
    db.run(f"INSERT INTO {report} (id, title, body) VALUES ('r1', 'First', 'hello')")
    db.run(f"INSERT INTO {comment} (id, report_id, text) VALUES ('c1', 'r1', 'nice')")
    assert db.run(f"SELECT title, status, views FROM {report}") == [("First", "draft", 0)]
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        db.run(f"INSERT INTO {comment} (id, report_id, text) VALUES ('c2', 'missing', 'x')")
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        db.run(f"INSERT INTO {report} (id, title, views) VALUES ('r2', 'Second', -1)")

    row = schema_row(stack, plugin_id)
    assert row is not None and row.status == "active" and row.version == "1.0.0"
    assert row.activated_at is not None and row.deactivated_at is None
    assert row.created_by == "alice" and row.updated_by == "alice"
    assert row.schema_definition["tables"][0]["name"] == report
    first = {m.migration_version: m for m in stack.migrations(plugin_id)}["schema-1.0.0"]
    assert first.status == "completed" and first.up_sql and first.down_sql
    assert "CREATE TABLE" in first.up_sql and report in first.up_sql
    assert "DROP TABLE" in first.down_sql
    assert first.checksum == hashlib.sha256(first.up_sql.encode()).hexdigest()
    events = [e for e in stack.audit(plugin_id, op.id) if e.event == "schema_migration_completed"]
    assert len(events) == 1 and events[0].details["statements"] == first.up_sql.count(";\n")

    additive = register(stack, plugin_id, report_doc(plugin_id, "2.0.0", summary=True))
    assert additive.state == "succeeded", additive.error
    second = {m.migration_version: m for m in stack.migrations(plugin_id)}["schema-2.0.0"]
    assert "ALTER TABLE" in second.up_sql and "summary" in second.up_sql
    assert "CREATE TABLE" not in second.up_sql and "DROP" not in second.up_sql
    assert "summary" in db.columns(report)
    assert db.run(f"SELECT title FROM {report}") == [("First",)]

    refused = register(stack, plugin_id, report_doc(plugin_id, "3.0.0", body=False, summary=True))
    assert refused.state == "failed"
    assert f"{report}.body" in (refused.error or "") and "force" in (refused.error or "")
    assert "body" in db.columns(report)
    row = schema_row(stack, plugin_id)
    assert row is not None and row.status == "failed" and row.version == "2.0.0"
    assert f"{report}.body" in (row.last_error or "") and row.validation_errors
    assert "schema-3.0.0" not in {m.migration_version for m in stack.migrations(plugin_id)}

    forced = register(
        stack, plugin_id, report_doc(plugin_id, "3.0.0", body=False, summary=True), force=True
    )
    assert forced.state == "succeeded", forced.error
    assert "body" not in db.columns(report)
    # the generated plan was linted like a migration file, and snapshotted before it ran
    (linted,) = [e for e in stack.audit(plugin_id, forced.id) if e.event == "migration_linted"]
    assert any(f["kind"] == "destructive" for f in linted.details["findings"])
    applied = next(s for s in forced.steps if s["name"] == "apply_schema")["detail"]
    assert applied["snapshot_id"] == linted.details["snapshot_id"] and applied["lint"]
    assert db.run(
        f"SELECT r.title, c.text FROM {report} r JOIN {comment} c ON c.report_id = r.id"
    ) == [("First", "nice")]
    row = schema_row(stack, plugin_id)
    assert (
        row is not None
        and row.status == "active"
        and row.version == "3.0.0"
        and row.last_error is None
    )
    third = {m.migration_version: m for m in stack.migrations(plugin_id)}["schema-3.0.0"]
    assert third.status == "completed" and "body" in (third.down_sql or "")


@pytest.mark.parametrize(
    "mode", ["shared", "exclusive-sqlite", "exclusive-postgres", "exclusive-mysql"]
)
def test_the_plan_document_registers_as_written(
    stack: Stack, mode: str, purge_after: list[str], cli: Any
) -> None:
    """PascalCase names, no prefixes, declared String and Int ids: accepted in every mode."""
    plugin_id = provision(stack, mode, "as")
    purge_after.append(plugin_id)
    ns = plugin_id.replace("-", "_")
    report, comment = f"{ns}_custom_report", f"{ns}_report_comment"
    op = register(stack, plugin_id, seed_doc(plugin_id))
    assert op.state == "succeeded", op.error
    assert op.result["tables"] == [report, comment]
    row = schema_row(stack, plugin_id)
    assert row is not None and row.status == "active"
    assert row.schema_definition["enums"][0]["name"] == f"{ns}_report_status"
    db = PluginDb(stack, plugin_id)
    db.run(f"INSERT INTO {report} (id, title) VALUES ('r1', 'Quarterly')")
    db.run(f"INSERT INTO {comment} (report_id, body) VALUES ('r1', 'first')")
    db.run(f"INSERT INTO {comment} (report_id, body) VALUES ('r1', 'second')")
    assert db.run(f"SELECT status, page_count FROM {report}") == [("DRAFT", 0)]
    assert db.run(f"SELECT id, body FROM {comment} ORDER BY id") == [(1, "first"), (2, "second")]
    again = register(stack, plugin_id, seed_doc(plugin_id))
    assert again.state == "succeeded" and again.steps[1]["detail"]["statements"] == 0
    prisma = cli("schema", "export", "--format", "prisma", "--plugin", plugin_id).stdout
    provider = {"exclusive-postgres": "postgresql", "exclusive-mysql": "mysql"}.get(mode, "sqlite")
    assert f'provider = "{provider}"' in prisma and "model CustomReport {" in prisma
    assert "enum ReportStatus {" in prisma and "id Int @id" in prisma


def test_invalid_document_is_rejected_with_json_paths_and_creates_nothing(stack: Stack) -> None:
    """Every problem is named by its JSON path; no row, no table, an audited rejection."""
    plugin_id = provision(stack, "exclusive-sqlite")
    doc = report_doc(plugin_id, "1.0.0")
    doc["tables"][0]["name"] = "report-list"
    doc["tables"][1]["fields"][0]["type"] = "Uuid"
    doc["tables"][1]["colour"] = "blue"
    op = register(stack, plugin_id, doc)
    assert op.state == "rejected"
    for path in ("tables[1].fields[0].type", "tables[1].colour"):
        assert path in (op.error or ""), op.error
    doc = report_doc(plugin_id, "1.0.0")
    doc["tables"][0]["name"] = "report-list"
    op = register(stack, plugin_id, doc)
    assert op.state == "rejected" and "tables[0].name" in (op.error or ""), op.error
    assert schema_row(stack, plugin_id) is None
    tables = PluginDb(stack, plugin_id).run("SELECT name FROM sqlite_master WHERE type = 'table'")
    assert [t for (t,) in tables if t.startswith(plugin_id.replace("-", "_"))] == []
    assert [e.event for e in stack.audit(operation_id=op.id)] == ["request_rejected"]


def test_conflicting_table_names_reject_the_second_plugin(stack: Stack) -> None:
    """Plugin `p` owns `p_x_items`; plugin `p-x` declaring the same table is rejected."""
    first = provision(stack, "exclusive-sqlite", "cf")
    second = f"{first}-x"
    write_plugin(stack.plugins_root, second, "exclusive-sqlite", {})
    assert stack.run("plugin_db.provision", {"plugin_id": second}).state == "succeeded"
    ns, ns2 = first.replace("-", "_"), second.replace("-", "_")
    table = f"{ns}_x_items"
    items = [{"name": "label", "type": "String", "required": True}]

    def doc(plugin_id: str, namespace: str) -> Doc:
        return {
            "pluginId": plugin_id,
            "version": "1",
            "enums": [],
            "relationships": [],
            "tables": [{"name": table, "namespace": namespace, "fields": items}],
            "metadata": {"namespace": namespace},
        }

    assert register(stack, first, doc(first, ns)).state == "succeeded"
    op = register(stack, second, doc(second, ns2))
    assert op.state == "rejected" and table in (op.error or ""), op.error
    assert schema_row(stack, second) is None
    row = schema_row(stack, first)
    assert row is not None and row.status == "active"


def test_unregister_keeps_the_tables_and_register_reactivates(stack: Stack) -> None:
    """Unregister deactivates (tables and data kept); registering again runs no DDL."""
    plugin_id = provision(stack, "exclusive-sqlite")
    report = f"{plugin_id.replace('-', '_')}_report"
    assert register(stack, plugin_id, report_doc(plugin_id, "1.0.0")).state == "succeeded"
    db = PluginDb(stack, plugin_id)
    db.run(f"INSERT INTO {report} (id, title) VALUES ('r1', 'Kept')")
    op = stack.run("plugin_db.unregister_schema", {"plugin_id": plugin_id})
    assert op.state == "succeeded", op.error
    assert op.steps[-1]["detail"]["tables_kept"][0] == report
    row = schema_row(stack, plugin_id)
    assert row is not None and row.status == "pending" and row.deactivated_at is not None
    assert db.run(f"SELECT title FROM {report}") == [("Kept",)]
    again = stack.run("plugin_db.unregister_schema", {"plugin_id": plugin_id})
    assert again.state == "succeeded" and again.steps[-1]["status"] == "skipped"
    back = register(stack, plugin_id, report_doc(plugin_id, "1.0.0"))
    assert back.state == "succeeded" and back.steps[1]["detail"]["statements"] == 0
    row = schema_row(stack, plugin_id)
    assert row is not None and row.status == "active" and row.deactivated_at is None


def _json(result: Any) -> Any:
    """The JSON document of a CLI result (in-process, log lines share the captured output)."""
    text: str = result.stdout
    return json.loads(text[text.index("{") if text.startswith("{") else text.index("\n{") + 1 :])


@pytest.fixture
def cli(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Invoke `plugin-db` against the stack's tracking database and broker."""
    from worker.cli import app
    from worker.cli.common import sessions, settings

    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    settings.cache_clear()
    sessions.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    settings.cache_clear()
    sessions.cache_clear()


def test_cli_validate_register_show_conflicts_export(
    stack: Stack, cli: Any, tmp_path: Path
) -> None:
    """validate (exit 0 / 2 with one problem a line), register --wait, show, conflicts, export."""
    plugin_id = provision(stack, "exclusive-sqlite", "cli")
    ns = plugin_id.replace("-", "_")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(report_doc(plugin_id, "1.0.0")))
    broken = report_doc(plugin_id, "1.0.0")
    broken["tables"][0]["name"] = f"{ns}_"  # the bare prefix
    broken["enums"][0]["values"] = ["draft", "Draft"]
    bad.write_text(json.dumps(broken))

    result = cli("schema", "validate", good, "--plugin", plugin_id)
    assert result.exit_code == 0 and "valid" in result.output
    result = cli("schema", "validate", bad)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert any(line.startswith("tables[0].name:") for line in lines)
    assert any(line.startswith("enums[0].values[1]:") for line in lines)
    result = cli("schema", "validate", good, "--plugin", "someone-else", "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["problems"][0].startswith(
        "pluginId:"
    )

    result = cli("schema", "register", plugin_id, good, "--wait", "--json")
    assert result.exit_code == 0, result.output
    assert _json(result)["state"] == "succeeded"
    assert cli("schema", "register", plugin_id, bad).exit_code == 2

    shown = cli("schema", "show", plugin_id, "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["status"] == "active"
    assert cli("schema", "show", "nobody-here").exit_code == 2
    conflicts = cli("schema", "conflicts", "--json")
    assert conflicts.exit_code == 0 and json.loads(conflicts.stdout)["conflicts"] == []

    prisma = cli("schema", "export", "--format", "prisma")
    assert prisma.exit_code == 0, prisma.output
    assert f'@@map("{ns}_report")' in prisma.output and "@relation(" in prisma.output
    own = cli("schema", "export", "--format", "prisma", "--plugin", plugin_id, "--output", "gen")
    assert own.exit_code == 0, own.output
    assert 'provider = "sqlite"' in own.stdout and 'provider   = "prisma-client"' in own.stdout
    assert "model Report {" in own.stdout and f'@@map("{ns}_report")' in own.stdout
    assert cli("schema", "export", "--format", "prisma", "--plugin", "nobody-here").exit_code == 2
    sql = cli("schema", "export", "--format", "sql", "--dialect", "sqlite")
    assert sql.exit_code == 0 and f"CREATE TABLE {ns}_report" in sql.output
    assert cli("schema", "export", "--format", "yaml").exit_code == 2
    assert json.loads(cli("schema", "json-schema").output)["title"] == "ExtensionDatabaseSchema"


def test_cli_conflicts_exits_1_when_rows_conflict(stack: Stack, cli: Any) -> None:
    """Two stored documents declaring the same table are reported, with exit status 1."""
    owner = unique_id("cc")
    nested = f"{owner}-x"
    table = f"{owner.replace('-', '_')}_x_items"
    rows = []
    for plugin_id in (owner, nested):
        ns = plugin_id.replace("-", "_")
        doc = {
            "pluginId": plugin_id,
            "version": "1",
            "enums": [],
            "relationships": [],
            "tables": [{"name": table, "namespace": ns, "fields": []}],
            "metadata": {"namespace": ns},
        }
        rows.append(
            ExtensionSchema(
                plugin_id=plugin_id, version="1", schema_definition=doc, status="failed"
            )
        )
    with stack.sessions.begin() as session:
        session.add_all(rows)
    try:
        result = cli("schema", "conflicts")
        assert result.exit_code == 1, result.output
        assert table in result.output and owner in result.output
    finally:
        with stack.sessions.begin() as session:
            session.execute(
                delete(ExtensionSchema).where(ExtensionSchema.plugin_id.in_([owner, nested]))
            )

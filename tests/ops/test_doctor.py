"""``plugin-db doctor`` on a real fleet: healthy first, then each kind of drift made by hand."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import update

from providers.base import PluginSpec
from providers.postgres import PgNames
from tests.ops.conftest import mysql_admin
from tests.ops.helpers import (
    PREFIX,
    found,
    login_for,
    new_id,
    problems_of,
    provision,
    purge,
    run_doctor,
)
from tests.support.stack import Stack, migration
from worker.naming import namespace
from worker.ops.findings import Check, Severity
from worker.tracking.models import LifecycleOperation, utcnow


@pytest.fixture(scope="module")
def fleet(ops_stack: Stack) -> dict[str, str]:
    """One healthy plugin per provider, provisioned through the worker."""
    ids = provision(ops_stack, "sq", "pg", "my", "sh")
    return dict(zip(("sq", "pg", "my", "sh"), ids, strict=True))


def pg_admin(stack: Stack) -> psycopg.Connection[Any]:
    """An autocommit connection as the PostgreSQL provider's admin."""
    return psycopg.connect(stack.env["PLUGIN_DB_POSTGRES_ADMIN_URL"], autocommit=True)


def plugin_file(stack: Stack, plugin_id: str) -> Path:
    return Path(stack.env["PLUGIN_DB_DATA_DIR"]) / "plugins" / f"{plugin_id}.db"


def test_healthy_fleet_exits_0_with_no_warning(
    ops_stack: Stack, fleet: dict[str, str], cli: Any
) -> None:
    """Every provider reachable as its plugin, within limits, no drift: exit 0, one ok each."""
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["warnings"], data["errors"]) == (0, 0), data["findings"]
    oks = {f["plugin_id"]: f for f in data["findings"] if f["severity"] == "ok"}
    assert set(fleet.values()) <= set(oks)
    assert "1 migration applied" in oks[fleet["pg"]]["message"]
    human = cli("doctor")
    assert human.exit_code == 0
    assert f"checked {data['plugins_checked']} plugins" in human.output
    assert "0 warnings, 0 errors" in human.output


def test_sqlite_file_deleted_and_chmod(ops_stack: Stack, fleet: dict[str, str]) -> None:
    """A deleted file is storage_missing; a 0644 file is file_mode (fixed by the chmod given)."""
    (gone,) = provision(ops_stack, "sq")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{plugin_file(ops_stack, gone)}{suffix}").unlink(missing_ok=True)
    path = plugin_file(ops_stack, fleet["sq"])
    path.chmod(0o644)
    try:
        report = run_doctor(ops_stack)
        (missing,) = found(report, Check.STORAGE_MISSING, gone)
        assert missing.severity is Severity.ERROR and "--purge" in (missing.fix or "")
        (mode,) = found(report, Check.FILE_MODE, fleet["sq"])
        assert mode.severity is Severity.ERROR and mode.fix == f"chmod 600 {path}"
    finally:
        path.chmod(0o600)
    assert not problems_of(run_doctor(ops_stack, fleet["sq"]), fleet["sq"])
    purge(ops_stack, gone)


def test_dropped_by_admin_postgres_schema_and_mysql_database(ops_stack: Stack) -> None:
    """Storage dropped behind plugin-db's back, on both servers: storage_missing."""
    pg, my = provision(ops_stack, "pg", "my")
    with pg_admin(ops_stack) as conn:
        conn.execute(f'DROP SCHEMA "{namespace(pg)}" CASCADE')
    with closing(mysql_admin()) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE `plugin_{namespace(my)}`")
    report = run_doctor(ops_stack)
    for plugin_id in (pg, my):
        (finding,) = found(report, Check.STORAGE_MISSING, plugin_id)
        assert finding.severity is Severity.ERROR
    purge(ops_stack, pg, my)
    assert not found(run_doctor(ops_stack), Check.STORAGE_MISSING)


def test_connection_limit_altered_then_fixed_by_reprovision(
    ops_stack: Stack, fleet: dict[str, str]
) -> None:
    """ALTER ROLE … CONNECTION LIMIT by an admin is found; the advised re-provision resets it."""
    plugin_id = fleet["pg"]
    login = login_for(ops_stack, plugin_id)
    assert login is not None
    with pg_admin(ops_stack) as conn:
        conn.execute(f'ALTER ROLE "{login.username}" CONNECTION LIMIT 50')
    (finding,) = found(run_doctor(ops_stack, plugin_id), Check.CONNECTION_LIMIT, plugin_id)
    assert finding.severity is Severity.WARNING
    assert "is 50, the manifest declares 5" in finding.message
    assert "plugin-db provision" in (finding.fix or "")
    op = ops_stack.run("plugin_db.provision", {"plugin_id": plugin_id})
    assert op.state == "succeeded", op.error
    assert not problems_of(run_doctor(ops_stack, plugin_id), plugin_id)


def test_migration_file_edited_after_apply(ops_stack: Stack, fleet: dict[str, str]) -> None:
    """An applied file whose checksum changed is migration_drift, naming the file."""
    plugin_id = fleet["sh"]
    path = ops_stack.plugins_root / plugin_id / "migrations" / "001-items.sql"
    original = path.read_text()
    path.write_text(original.replace("VARCHAR(100)", "VARCHAR(200)"))
    try:
        (finding,) = found(run_doctor(ops_stack, plugin_id), Check.MIGRATION_DRIFT, plugin_id)
        assert finding.severity is Severity.WARNING and "001-items.sql" in finding.message
    finally:
        path.write_text(original)
    assert not problems_of(run_doctor(ops_stack, plugin_id), plugin_id)


@pytest.fixture
def orphans(ops_stack: Stack) -> Iterator[dict[str, str]]:
    """An orphan SQLite file, PostgreSQL schema + roles and MySQL database, made by hand."""
    file_id, pg_id, my_id = new_id("of"), new_id("op"), new_id("om")
    path = plugin_file(ops_stack, file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (x)")
    names = PgNames.of(PluginSpec(plugin_id=pg_id))
    with pg_admin(ops_stack) as conn:
        conn.execute(f'CREATE ROLE "{names.owner}" NOLOGIN')
        for login in names.logins:
            conn.execute(f'CREATE ROLE "{login}" LOGIN')
        conn.execute(f'CREATE SCHEMA "{names.schema}" AUTHORIZATION "{names.owner}"')
    database = f"plugin_{namespace(my_id)}"
    with closing(mysql_admin()) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
    yield {"file": str(path), "file_id": file_id, "schema": names.schema, "database": database}
    path.unlink(missing_ok=True)
    with pg_admin(ops_stack) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{names.schema}" CASCADE')
        for role in names.roles:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    with closing(mysql_admin()) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")


def test_orphans_found_with_provider_naming(ops_stack: Stack, orphans: dict[str, str]) -> None:
    """Storage named like a plugin's with no datasource: orphan_storage, one per object."""
    report = run_doctor(ops_stack)
    orphan = found(report, Check.ORPHAN_STORAGE)
    by_file = [f for f in orphan if f.plugin_id == orphans["file_id"]]
    assert len(by_file) == 1 and orphans["file"] in by_file[0].message
    assert f"rm -f {orphans['file']}" in (by_file[0].fix or "")
    (schema,) = [f for f in orphan if repr(orphans["schema"]) in f.message]
    assert f'DROP SCHEMA "{orphans["schema"]}" CASCADE' in (schema.fix or "")
    assert f"{orphans['schema']}_owner" in schema.message
    (database,) = [f for f in orphan if repr(orphans["database"]) in f.message]
    assert database.severity is Severity.WARNING
    assert len(orphan) == 3, orphan  # nothing else: every tracked object is known
    assert all(PREFIX in f.message for f in orphan)


def test_stuck_operation(ops_stack: Stack, fleet: dict[str, str]) -> None:
    """A running operation whose lease expired long ago is stuck_operation."""
    (op,) = [o for o in ops_stack.ops(fleet["my"]) if o.kind == "provision"][:1]
    expired = utcnow() - timedelta(minutes=5)
    with ops_stack.sessions.begin() as session:
        session.execute(
            update(LifecycleOperation)
            .where(LifecycleOperation.id == op.id)
            .values(state="running", lease_owner="ghost:1:dead", lease_expires_at=expired)
        )
    try:
        (finding,) = found(run_doctor(ops_stack, fleet["my"]), Check.STUCK_OPERATION)
        assert finding.severity is Severity.ERROR and f"operation {op.id}" in finding.message
        assert "lease of ghost:1:dead expired 5 min ago" in finding.message
        assert f"plugin-db op {op.id}" in (finding.fix or "")
    finally:
        with ops_stack.sessions.begin() as session:
            session.execute(
                update(LifecycleOperation)
                .where(LifecycleOperation.id == op.id)
                .values(state="succeeded", lease_owner=None, lease_expires_at=None)
            )


def test_failed_operation_then_retry_resumes_it(ops_stack: Stack, cli: Any) -> None:
    """A failed migrate is failed_operation; after the fix, `retry --wait` resumes and succeeds."""
    (plugin_id,) = provision(ops_stack, "sq")
    ns = namespace(plugin_id)
    extra = ops_stack.plugins_root / plugin_id / "migrations" / "002-more.sql"
    extra.write_text(migration(f"INSERT INTO {ns}_nowhere VALUES (1);", "SELECT 1;", "002"))
    op = ops_stack.run("plugin_db.migrate", {"plugin_id": plugin_id})
    assert op.state == "failed", op.error
    report = run_doctor(ops_stack, plugin_id)
    (failure,) = found(report, Check.FAILED_OPERATION, plugin_id)
    assert failure.severity is Severity.ERROR and f"plugin-db retry {op.id}" in (failure.fix or "")
    assert found(report, Check.DATASOURCE_FAILED, plugin_id)
    doctor = cli("doctor", "--plugin", plugin_id, "--json")
    assert doctor.exit_code == 1 and json.loads(doctor.stdout)["errors"] >= 1

    extra.write_text(
        migration(f"CREATE TABLE {ns}_more (id INTEGER);", f"DROP TABLE {ns}_more;", "002")
    )
    retried = cli("retry", op.id, "--wait", "--json")
    assert retried.exit_code == 0, retried.output
    data = json.loads(retried.stdout)
    assert data["operation_id"] == op.id and data["state"] == "succeeded"
    assert [s["name"] for s in data["steps"]].count("begin_migrate") == 1  # resumed, not rerun
    events = [e.event for e in ops_stack.audit(plugin_id, op.id)]
    assert "operation_retried" in events and events[-1] == "operation_succeeded"
    assert cli("retry", op.id).exit_code == 2  # not failed any more
    assert cli("retry", 999_999).exit_code == 2
    assert not problems_of(run_doctor(ops_stack, plugin_id), plugin_id)
    assert cli("doctor", "--plugin", "nobody-here").exit_code == 2


def test_over_storage_limit_writes_one_audit_event_per_run(ops_stack: Stack) -> None:
    """A file grown past storageMb=1 by the plugin: storage_limit error + audit event."""
    (plugin_id,) = provision(ops_stack, "sq", limits={"storageMb": 1})
    with closing(sqlite3.connect(plugin_file(ops_stack, plugin_id))) as conn:
        conn.execute(f"CREATE TABLE {namespace(plugin_id)}_blobs (b BLOB)")
        for _ in range(15):
            conn.execute(f"INSERT INTO {namespace(plugin_id)}_blobs VALUES (randomblob(100000))")
        conn.commit()
    assert os.path.getsize(plugin_file(ops_stack, plugin_id)) > 1024 * 1024
    report = run_doctor(ops_stack)
    (finding,) = found(report, Check.STORAGE_LIMIT, plugin_id)
    assert finding.severity is Severity.ERROR and "of its 1 MiB limit" in finding.message
    assert report.over_limit == [plugin_id]
    run_doctor(ops_stack, plugin_id)
    events = [e for e in ops_stack.audit(plugin_id) if e.event == "storage_limit_exceeded"]
    assert len(events) == 2 and events[0].actor == "doctor"
    assert events[0].details["size_bytes"] > events[0].details["limit_bytes"] == 1024 * 1024
    purge(ops_stack, plugin_id)


def test_progress_bar_on_a_terminal(
    ops_stack: Stack, fleet: dict[str, str], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal a progress bar runs while plugins are checked (never with --json)."""
    import io

    from rich.console import Console

    from worker.cli import output, show

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(output, "console", terminal, raising=False)
    monkeypatch.setattr(show, "PROGRESS_FROM", 1)
    cli("doctor")
    assert "checking" in screen.getvalue()
    screen.truncate(0)
    cli("doctor", "--json")
    assert "checking" not in screen.getvalue()


def test_a_corrupt_file_is_a_finding_not_a_crash(ops_stack: Stack, fleet: dict[str, str]) -> None:
    """A plugin whose check raises is reported as an error; the other plugins are still checked."""
    (plugin_id,) = provision(ops_stack, "sq")
    path = plugin_file(ops_stack, plugin_id)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database at all" * 1000)
    report = run_doctor(ops_stack)
    (finding,) = problems_of(report, plugin_id)
    assert finding.severity is Severity.ERROR and finding.check == Check.PROVIDER
    assert "DatabaseError" in finding.message
    assert fleet["sq"] in report.plugins and not problems_of(report, fleet["sq"])
    purge(ops_stack, plugin_id, snapshot=False)  # nothing readable to keep

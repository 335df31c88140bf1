"""The linter before a migration runs: CLI, dry-run output, audit, and what it refuses."""

from __future__ import annotations

import json

import pytest

from tests.migrations.support import (
    cli,
    events,
    in_process,
    new_plugin,
    run_in_process,
    sql,
    step,
    write_file,
)
from tests.support.stack import Stack
from worker.states import Kind


def _provision(stack: Stack, plugin_id: str) -> None:
    op = run_in_process(in_process(stack), Kind.PROVISION, {"plugin_id": plugin_id})
    assert op.state == "succeeded", op.error


@pytest.mark.postgres
def test_lint_cli_dry_run_and_audit(light: Stack) -> None:
    pid, _ = new_plugin(light, "lint", "exclusive-postgres")
    write_file(light, pid, "001-t.sql", "CREATE TABLE t (id INT, c INT);\nCREATE INDEX i ON t (c);")
    _provision(light, pid)
    write_file(light, pid, "002-idx.sql", "CREATE INDEX j ON t (id);\nUPDATE t SET c = 1;")
    listed = cli(light, "migrations", "lint", pid, "--json")
    assert listed.exit_code == 1, listed.output
    report = json.loads(listed.stdout)
    by_file = {f["version"]: f for f in report["files"]}
    assert by_file["001"]["findings"] == [] and by_file["001"]["state"] == "applied"
    rules = {f["rule"] for f in by_file["002"]["findings"]}
    assert rules == {"index_without_concurrently", "update_without_where"}
    human = cli(light, "migrations", "lint", pid)
    assert "CONCURRENTLY" in human.stdout and "update_without_where" in human.stdout

    dry = run_in_process(
        in_process(light), Kind.MIGRATE, {"plugin_id": pid, "dry_run": True, "force": True}
    )
    assert dry.state == "succeeded", dry.error
    (item,) = dry.result["sql"]
    assert {f["rule"] for f in item["findings"]} == rules


@pytest.mark.postgres
def test_locking_on_a_large_table_is_refused_unless_forced(light: Stack) -> None:
    pid, _ = new_plugin(light, "lock", "exclusive-postgres")
    write_file(light, pid, "001-t.sql", "CREATE TABLE t (id INT, c INT);")
    _provision(light, pid)
    sql(light, pid, "INSERT INTO t SELECT g, g FROM generate_series(1, 2000) g")
    write_file(light, pid, "002-idx.sql", "CREATE INDEX i ON t (c);")
    service = in_process(light, large_table_mb=0.01)
    refused = run_in_process(service, Kind.MIGRATE, {"plugin_id": pid})
    assert refused.state == "failed"
    assert "CREATE INDEX CONCURRENTLY" in refused.error and "table t holds" in refused.error
    linted = events(light, pid, "migration_linted")[-1]
    assert linted.details["refused"] and linted.details["findings"][0]["table"] == "t"
    forced = run_in_process(service, Kind.MIGRATE, {"plugin_id": pid, "force": True})
    assert forced.state == "succeeded", forced.error
    assert step(forced, "apply_migrations")["detail"]["lint"] == {"locking": 1}

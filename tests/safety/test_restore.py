"""Restore to a snapshot after a destructive migration, for every driver; under SIGKILL at
every step boundary; and a tampered snapshot refused with the reason."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_conformance import provider_for
from tests.migrations.support import cli, in_process, ledger, run_in_process, sql, step, write_file
from tests.safety.test_snapshots import MODES, seeded
from tests.support.stack import Stack
from worker.states import Kind

ROWS = "SELECT id, note, extra FROM items ORDER BY id"
STEPS = ["begin_restore", "snapshot_before_restore", "load_side", "verify_side", "swap_in",
         "restore_ledger"]  # fmt: skip


def digest(stack: Stack, pid: str, query: str = ROWS) -> str:
    rows = sql(stack, pid, query)
    assert len(rows) == 1000
    return hashlib.sha256(json.dumps([list(map(str, r)) for r in rows]).encode()).hexdigest()


def destroy(stack: Stack, pid: str, run: Any) -> int:
    """The destructive migration (linted, snapshotted first); returns the snapshot id."""
    write_file(
        stack, pid, "002-drop.sql", "ALTER TABLE items DROP COLUMN extra;\nDROP TABLE scratch;"
    )
    linted = json.loads(cli(stack, "migrations", "lint", pid, "--json").stdout)
    assert [f["rule"] for f in linted["files"][1]["findings"] if f["kind"] == "destructive"] == [
        "drop_column",
        "drop_table",
    ]
    op = run(Kind.MIGRATE, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    with pytest.raises(Exception):  # noqa: B017 - the column is gone
        sql(stack, pid, ROWS)
    return int(step(op, "apply_migrations")["detail"]["snapshot_id"])


def assert_restored(stack: Stack, pid: str, before: str) -> None:
    assert digest(stack, pid) == before
    assert sql(stack, pid, "SELECT COUNT(*) FROM scratch") == [(0,)]
    assert [(m.migration_version, m.status) for m in stack.migrations(pid)] == [
        ("001", "completed"),
        ("002", "rolled_back"),
    ]
    assert sorted(ledger(stack, pid)) == ["001"]
    states = json.loads(cli(stack, "migrations", "list", pid, "--json").stdout)
    assert {v["version"]: v["state"] for v in states}["002"] != "completed"
    provider, spec = provider_for(stack, pid)
    assert provider.side_row_counts(spec) is None, "a side object was left behind"


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("mode", MODES)
def test_restore_after_a_destructive_migration(light: Stack, mode: str) -> None:
    pid = seeded(light, mode)
    before = digest(light, pid)

    def run(kind: Kind, request: dict[str, Any]) -> Any:
        return run_in_process(in_process(light), kind, request)

    snapshot_id = destroy(light, pid, run)
    op = run(Kind.RESTORE_SNAPSHOT, {"plugin_id": pid, "snapshot_id": snapshot_id})
    assert op.state == "succeeded", op.error
    assert_restored(light, pid, before)
    assert step(op, "swap_in")["detail"]["replaced"]
    assert [e for e in light.audit(pid) if e.event == "snapshot_restored"]
    # the migration applies again, from the ledger the snapshot brought back
    again = run(Kind.MIGRATE, {"plugin_id": pid})
    assert again.state == "succeeded", again.error
    assert step(again, "apply_migrations")["detail"]["applied"] == ["002"]


@pytest.mark.postgres
def test_a_tampered_snapshot_is_refused_with_the_reason(light: Stack) -> None:
    pid = seeded(light, "exclusive-postgres")

    def run(kind: Kind, request: dict[str, Any]) -> Any:
        return run_in_process(in_process(light), kind, request)

    snapshot_id = destroy(light, pid, run)
    (row,) = json.loads(cli(light, "snapshots", "list", pid, "--json").stdout)
    path = Path(row["location"].removeprefix("file://"))
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x01
    path.write_bytes(bytes(data))
    op = run(Kind.RESTORE_SNAPSHOT, {"plugin_id": pid, "snapshot_id": snapshot_id})
    assert op.state == "failed" and "fails its checksum" in (op.error or "")
    provider, spec = provider_for(light, pid)
    assert provider.side_row_counts(spec) is None
    assert ("002", "completed") in [(m.migration_version, m.status) for m in light.migrations(pid)]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("boundary", STEPS)
def test_restore_converges_after_sigkill_at_each_boundary(
    fresh_stack: Stack, boundary: str
) -> None:
    stack = fresh_stack
    stack.start_worker()
    pid = seeded(stack, "exclusive-postgres")
    before = digest(stack, pid)
    snapshot_id = destroy(stack, pid, lambda kind, request: stack.run(kind.task_name, request))
    stack.stop()
    victim = stack.start_worker(extra_env={"PLUGIN_DB_FAILPOINTS": f"after:{boundary}=sleep:120"})
    request_id = stack.send(
        Kind.RESTORE_SNAPSHOT.task_name, {"plugin_id": pid, "snapshot_id": snapshot_id}
    )
    stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="failpoint", timeout=120)
    stack.kill(victim, signal.SIGKILL)
    stack.start_worker()
    op = stack.wait(request_id, timeout=120)
    assert op.state == "succeeded", op.error
    assert op.crashes == 1
    assert_restored(stack, pid, before)

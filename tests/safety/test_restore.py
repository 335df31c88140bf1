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
from tests.safety.test_snapshots import TRIGGER, VARIANTS, seeded, table
from tests.support.stack import Stack
from worker.states import Kind

STEPS = ["begin_restore", "snapshot_before_restore", "load_side", "verify_side", "swap_in",
         "restore_ledger"]  # fmt: skip


def rows_of(pid: str, mode: str) -> str:
    return f"SELECT id, note, extra FROM {table(pid, mode, 'items')} ORDER BY id"


def digest(stack: Stack, pid: str, mode: str) -> str:
    rows = sql(stack, pid, rows_of(pid, mode))
    assert len(rows) == 1000
    return hashlib.sha256(json.dumps([list(map(str, r)) for r in rows]).encode()).hexdigest()


def destroy(stack: Stack, pid: str, run: Any, mode: str) -> int:
    """The destructive migration (linted, snapshotted first); returns the snapshot id."""
    items, scratch = table(pid, mode, "items"), table(pid, mode, "scratch")
    drop = f"ALTER TABLE {items} DROP COLUMN extra;\nDROP TABLE {scratch};"
    write_file(stack, pid, "002-drop.sql", drop)
    linted = json.loads(cli(stack, "migrations", "lint", pid, "--json").stdout)
    assert [f["rule"] for f in linted["files"][1]["findings"] if f["kind"] == "destructive"] == [
        "drop_column",
        "drop_table",
    ]
    op = run(Kind.MIGRATE, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    with pytest.raises(Exception):  # noqa: B017 - the column is gone
        sql(stack, pid, rows_of(pid, mode))
    return int(step(op, "apply_migrations")["detail"]["snapshot_id"])


def assert_restored(stack: Stack, pid: str, before: str, mode: str) -> None:
    assert digest(stack, pid, mode) == before
    if mode in TRIGGER:  # the trigger came back with its table
        items = table(pid, mode, "items")
        sql(stack, pid, f"INSERT INTO {items} (id, extra) VALUES (5000, 0)")
        assert sql(stack, pid, f"SELECT note FROM {items} WHERE id = 5000") == [("none",)]
        sql(stack, pid, f"DELETE FROM {items} WHERE id = 5000")
    assert sql(stack, pid, f"SELECT COUNT(*) FROM {table(pid, mode, 'scratch')}") == [(0,)]
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
@pytest.mark.parametrize("mode", list(VARIANTS))
def test_restore_after_a_destructive_migration(lights: Any, mode: str) -> None:
    light = lights(VARIANTS[mode][1])
    pid = seeded(light, mode)
    before = digest(light, pid, mode)

    def run(kind: Kind, request: dict[str, Any]) -> Any:
        return run_in_process(in_process(light), kind, request)

    snapshot_id = destroy(light, pid, run, mode)
    op = run(Kind.RESTORE_SNAPSHOT, {"plugin_id": pid, "snapshot_id": snapshot_id})
    assert op.state == "succeeded", op.error
    assert_restored(light, pid, before, mode)
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

    snapshot_id = destroy(light, pid, run, "exclusive-postgres")
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
def test_restore_converges_after_the_whole_worker_is_sigkilled(fresh_stack: Stack) -> None:
    """SIGKILL of the worker's whole process group inside load_side; a new worker finishes."""
    stack, mode = fresh_stack, "exclusive-postgres"
    pid = seeded(stack, mode)
    before = digest(stack, pid, mode)
    snapshot_id = destroy(stack, pid, lambda k, r: run_in_process(in_process(stack), k, r), mode)
    victim = stack.start_worker(extra_env={"PLUGIN_DB_FAILPOINTS": "after:load_side=sleep:120"})
    request_id = stack.send(
        Kind.RESTORE_SNAPSHOT.task_name, {"plugin_id": pid, "snapshot_id": snapshot_id}
    )
    stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="failpoint", timeout=120)
    stack.kill(victim, signal.SIGKILL)
    stack.start_worker()
    op = stack.wait(request_id, timeout=120)
    assert op.state == "succeeded", op.error
    assert op.crashes == 1
    assert_restored(stack, pid, before, mode)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.mysql
def test_restore_converges_after_sigkill_at_each_boundary(
    fresh_stack: Stack, tmp_path: Path
) -> None:
    """For every driver, one restore whose process is SIGKILLed after each step acted and
    before it was recorded, in turn (each failpoint fires once), converges."""
    stack, marks = fresh_stack, tmp_path / "marks"
    marks.mkdir()
    points = ",".join(f"after:{name}=kill" for name in STEPS)
    stack.start_worker(
        extra_env={
            "PLUGIN_DB_FAILPOINTS": points,
            "PLUGIN_DB_FAILPOINT_MARKS": str(marks),
            "PLUGIN_DB_MAX_ATTEMPTS": str(len(STEPS) + 2),
        }
    )
    for mode in ("exclusive-sqlite", "exclusive-mysql", "exclusive-postgres"):
        pid = seeded(stack, mode)
        before = digest(stack, pid, mode)
        run = lambda k, r: run_in_process(in_process(stack), k, r)  # noqa: E731
        snapshot_id = destroy(stack, pid, run, mode)
        for mark in marks.iterdir():
            mark.unlink()  # every failpoint fires again, once, for this restore
        request_id = stack.send(
            Kind.RESTORE_SNAPSHOT.task_name, {"plugin_id": pid, "snapshot_id": snapshot_id}
        )
        op = stack.wait(request_id, timeout=240)
        assert op.state == "succeeded", (mode, op.error)
        assert op.crashes == len(STEPS), mode
        assert_restored(stack, pid, before, mode)

"""Snapshots on every exclusive driver: automatic before a destructive migration, encrypted
and compressed at rest, checksummed and authenticated, listed, and taken before a purge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.migrations.support import (
    cli,
    in_process,
    new_plugin,
    run_in_process,
    sql,
    step,
    write_file,
)
from tests.support.stack import Stack
from worker.errors import SnapshotError
from worker.settings import Settings
from worker.snapshots.service import Snapshots, key_of
from worker.states import Kind
from worker.tracking.db import make_engine, make_sessionmaker

MODES = ["exclusive-sqlite", "exclusive-postgres", "exclusive-mysql"]
VARIANTS = {  # test mode -> (manifest mode, light stack variant, SQL dialect)
    "exclusive-sqlite": ("exclusive-sqlite", "default", "sqlite"),
    "exclusive-postgres": ("exclusive-postgres", "default", "postgres"),
    "exclusive-mysql": ("exclusive-mysql", "default", "mysql"),
    "exclusive-postgres-managed": ("exclusive-postgres", "pg-managed", "postgres"),
    "shared": ("shared", "default", "sqlite"),
    "shared-postgresql": ("shared", "shared-postgresql", "postgres"),
    "shared-mysql": ("shared", "shared-mysql", "mysql"),
}
NEEDLE = "needle-7f3a9c"
TRIGGER = {  # a restore keeps the plugin's triggers (MySQL cannot move tables that have them)
    "exclusive-mysql": "CREATE TRIGGER {0}_note BEFORE INSERT ON {0} FOR EACH ROW "
    "SET NEW.note = COALESCE(NEW.note, 'none')"
}
TRIGGER["shared-mysql"] = TRIGGER["exclusive-mysql"]
SEED = {
    "sqlite": "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
    "WHERE n < 1000) INSERT INTO {items} (id, note, extra) SELECT n, 'row ' || n, n FROM g",
    "postgres": "INSERT INTO {items} (id, note, extra) "
    "SELECT n, 'row ' || n, n FROM generate_series(1, 1000) n",
    "mysql": "INSERT INTO {items} (id, note, extra) WITH RECURSIVE g(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000) SELECT n, CONCAT('row ', n), n "
    "FROM g",
}


def service(stack: Stack) -> Snapshots:
    settings = Settings.from_env(stack.env)
    return Snapshots(settings, make_sessionmaker(make_engine(settings.database_url)))


def table(pid: str, mode: str, name: str) -> str:
    """A table's name as the plugin writes it (shared mode: under its prefix)."""
    return f"{pid.replace('-', '_')}_{name}" if mode.startswith("shared") else name


def seeded(stack: Stack, mode: str) -> str:
    manifest_mode, _, dialect = VARIANTS[mode]
    pid, _ = new_plugin(stack, "snap", manifest_mode)
    items, scratch = table(pid, mode, "items"), table(pid, mode, "scratch")
    write_file(
        stack,
        pid,
        "001-items.sql",
        f"CREATE TABLE {items} (id INT PRIMARY KEY, note VARCHAR(200), extra INT);\n"
        f"CREATE TABLE {scratch} (id INT PRIMARY KEY);",
    )
    op = run_in_process(in_process(stack), Kind.PROVISION, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    if mode in TRIGGER:  # as the plugin itself (the migration guard cannot parse triggers)
        sql(stack, pid, TRIGGER[mode].format(items))
    sql(stack, pid, SEED[dialect].format(items=items))
    sql(stack, pid, f"UPDATE {items} SET note = '{NEEDLE}' WHERE id = 7")
    return pid


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("mode", MODES)
def test_destructive_migration_is_preceded_by_a_sealed_snapshot(light: Stack, mode: str) -> None:
    pid = seeded(light, mode)
    write_file(
        light, pid, "002-drop.sql", "ALTER TABLE items DROP COLUMN extra;\nDROP TABLE scratch;"
    )
    linted = json.loads(cli(light, "migrations", "lint", pid, "--json").stdout)
    rules = [f["rule"] for f in linted["files"][1]["findings"] if f["kind"] == "destructive"]
    assert rules == ["drop_column", "drop_table"]

    op = run_in_process(in_process(light), Kind.MIGRATE, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    snapshot_id = step(op, "apply_migrations")["detail"]["snapshot_id"]
    assert snapshot_id and op.result["snapshot_id"] == snapshot_id

    listed = json.loads(cli(light, "snapshots", "list", pid, "--json").stdout)
    (row,) = listed
    assert row["id"] == snapshot_id and row["reason"] == "before_migrate"
    assert row["ledger"] == ["001"] and row["state"] == "ready"
    assert snaps_counts(light, snapshot_id)["items"] == 1000
    snaps = service(light)
    stored = snaps.get(pid, snapshot_id)
    path = Path(row["location"].removeprefix("file://"))
    data = path.read_bytes()
    assert NEEDLE.encode() not in data and b"row 999" not in data
    assert path.stat().st_mode & 0o777 == 0o600
    plain = b"".join(snaps.read(stored))
    assert len(plain) == stored.raw_bytes and stored.size_bytes < stored.raw_bytes

    # tamper: flip one byte in the middle; the checksum refuses it, naming why
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    path.write_bytes(bytes(broken))
    with pytest.raises(SnapshotError, match="fails its checksum"):
        b"".join(snaps.read(stored))
    # even with a matching checksum recorded, the authentication tag refuses it
    stored.checksum = __import__("hashlib").sha256(bytes(broken)).hexdigest()
    with pytest.raises(SnapshotError, match="altered or corrupted"):
        b"".join(snaps.read(stored))
    path.write_bytes(data)


@pytest.mark.postgres
def test_never_policy_refuses_destructive_sql_without_force(light: Stack) -> None:
    pid, _ = new_plugin(light, "never", "exclusive-postgres", snapshots={"beforeMigrate": "never"})
    write_file(light, pid, "001-t.sql", "CREATE TABLE t (id INT);")
    assert run_in_process(in_process(light), Kind.PROVISION, {"plugin_id": pid}).state == (
        "succeeded"
    )
    write_file(light, pid, "002-drop.sql", "DROP TABLE t;")
    refused = run_in_process(in_process(light), Kind.MIGRATE, {"plugin_id": pid})
    assert refused.state == "rejected" and "force" in refused.error
    assert service(light).listing(pid) == []


@pytest.mark.parametrize("mode", ["exclusive-sqlite", "exclusive-postgres"])
@pytest.mark.postgres
def test_manual_snapshot_and_the_purge_snapshot(light: Stack, mode: str) -> None:
    pid = seeded(light, mode)
    taken = cli(light, "snapshot", pid, "--json")
    assert taken.exit_code == 0, taken.output
    manual = json.loads(taken.stdout)
    assert manual["reason"] == "manual" and manual["size_bytes"] > 0
    archived = run_in_process(in_process(light), Kind.TEARDOWN, {"plugin_id": pid})
    assert archived.state == "succeeded", archived.error
    purged = run_in_process(in_process(light), Kind.TEARDOWN, {"plugin_id": pid, "purge": True})
    assert purged.state == "succeeded", purged.error
    before = step(purged, "snapshot_before_purge")["detail"]["snapshot_id"]
    snaps = service(light)
    row = snaps.get(pid, before)
    assert row.reason == "before_purge" and NEEDLE.encode() in b"".join(snaps.read(row))
    assert key_of(row.id, pid) in row.location


def snaps_counts(stack: Stack, snapshot_id: int) -> dict[str, int]:
    with stack.sessions() as session:
        from worker.tracking.models import PluginSnapshot

        row = session.get(PluginSnapshot, snapshot_id)
        assert row is not None
        return dict(row.row_counts)


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("mode", ["shared", "shared-postgresql", "shared-mysql"])
def test_a_shared_snapshot_holds_only_the_plugins_own_tables(lights: Any, mode: str) -> None:
    stack = lights(VARIANTS[mode][1])
    mine, other = seeded(stack, mode), seeded(stack, mode)
    secret = "other-plugin-secret-41c7"
    sql(stack, other, f"UPDATE {table(other, mode, 'items')} SET note = '{secret}' WHERE id = 9")
    taken = cli(stack, "snapshot", mine, "--json")
    assert taken.exit_code == 0, taken.output
    row = service(stack).get(mine, json.loads(taken.stdout)["id"])
    plain = b"".join(service(stack).read(row))
    assert NEEDLE.encode() in plain and secret.encode() not in plain
    assert other.replace("-", "_").encode() not in plain
    assert set(row.row_counts) >= {table(mine, mode, "items"), table(mine, mode, "scratch")}
    assert all(name.startswith(mine.replace("-", "_")) for name in row.row_counts)

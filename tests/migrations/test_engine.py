"""The migration engine through real workers (two of them, concurrency 2 each).

Status and drift, repair, mid-file failures on every dialect, blocking, dry run, rollback and
force, concurrent requests, the lock, dependencies and baseline.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.migrations.support import (
    MODES,
    attempts,
    cli,
    events,
    in_process,
    ledger,
    new_plugin,
    rows,
    sql,
    step,
    tables,
    write_file,
)
from tests.support.plugin_access import login_for, provider_for
from tests.support.stack import Stack
from worker.errors import LockTimeout
from worker.states import Kind


@pytest.fixture(scope="module")
def eng(stack: Stack) -> Stack:
    """The module's stack with a second worker: two workers, concurrency 2 each."""
    stack.start_worker(beat=False)
    return stack


def provision(stack: Stack, plugin_id: str) -> None:
    op = stack.run("plugin_db.provision", {"plugin_id": plugin_id})
    assert op.state == "succeeded", op.error


def listing(stack: Stack, plugin_id: str) -> dict[str, str]:
    result = cli(stack, "migrations", "list", plugin_id, "--json")
    assert result.exit_code == 0, result.output
    return {e["version"]: e["state"] for e in json.loads(result.stdout)}


def test_status_drift_repair_and_the_fast_path(eng: Stack) -> None:
    """States from files + rows; a changed file stops migrate (named); repair accepts it."""
    pid, _ = new_plugin(eng, "st", "exclusive-sqlite")
    write_file(eng, pid, "001-a.sql", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    write_file(eng, pid, "002-b.sql", "CREATE TABLE b (id INTEGER);", "DROP TABLE b;")
    provision(eng, pid)
    changed = write_file(eng, pid, "001-a.sql", "CREATE TABLE a (id INTEGER); -- reviewed")
    write_file(eng, pid, "003-c.sql", "CREATE TABLE c (id INTEGER);", "DROP TABLE c;")
    states = listing(eng, pid)
    assert states == {"001": "changed-since-applied", "002": "completed", "003": "pending"}
    human = cli(eng, "migrations", "list", pid)
    assert "changed-since-applied" in human.stdout and "set checksum:" in human.stdout

    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert op.state == "failed" and "001-a.sql" in (op.error or "") and "repair" in op.error
    assert ("003", "completed") not in rows(eng, pid)

    repaired = cli(eng, "migrations", "repair", pid, "--json")
    assert repaired.exit_code == 0, repaired.output
    assert json.loads(repaired.stdout)["rechecksummed"] == ["001"]
    assert ledger(eng, pid)["001"][0] == changed
    assert events(eng, pid, "migrations_repaired")[-1].details["rechecksummed"] == ["001"]
    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    assert step(op, "apply_migrations")["detail"]["applied"] == ["003"]

    again = step(eng.run("plugin_db.migrate", {"plugin_id": pid}), "apply_migrations")
    assert (again["status"], again["detail"]) == ("skipped", {"reason": "up to date"})
    write_file(eng, pid, "0025-late.sql", "CREATE TABLE late (id INTEGER);", "DROP TABLE late;")
    (eng.plugins_root / pid / "migrations" / "002-b.sql").unlink()
    assert listing(eng, pid) == {
        "001": "completed",
        "0025": "out-of-order",
        "002": "missing-file",
        "003": "completed",
    }
    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert step(op, "apply_migrations")["detail"]["applied"] == ["0025"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_a_mid_file_failure_is_recorded_and_a_fixed_file_converges(
    eng: Stack, dialect: str
) -> None:
    """Statement 2 of 3 fails: rows, attempts and ledger are right; the fixed file converges."""
    pid, ns = new_plugin(eng, f"mf{dialect[:2]}", MODES[dialect])
    write_file(eng, pid, "001-items.sql", f"CREATE TABLE {ns}_items (id INTEGER PRIMARY KEY);")
    provision(eng, pid)
    first = f"CREATE TABLE {ns}_a (id INTEGER PRIMARY KEY);"
    last = f"CREATE TABLE {ns}_b (id INTEGER PRIMARY KEY);"
    write_file(eng, pid, "002-ab.sql", f"{first}\nINSERT INTO {ns}_missing VALUES (1);\n{last}")
    write_file(eng, pid, "003-c.sql", f"CREATE TABLE {ns}_c (id INTEGER PRIMARY KEY);")

    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert op.state == "failed" and f"{ns}_missing" in (op.error or "")
    assert rows(eng, pid) == [("001", "completed"), ("002", "failed")]
    (failed,) = [a for a in attempts(eng, pid) if a.migration_version == "002"]
    assert failed.outcome == "failed" and f"{ns}_missing" in (failed.failing_statement or "")
    assert listing(eng, pid) == {"001": "completed", "002": "failed", "003": "pending"}
    partial = ledger(eng, pid).get("002")
    if dialect == "mysql":  # DDL is not transactional: statement 1 ran and stays
        assert partial is not None and partial[1:] == (1, False)
        assert f"{ns}_a" in tables(eng, pid)
    else:  # one transaction per file: nothing of 002 is left
        assert partial is None and f"{ns}_a" not in tables(eng, pid)
    assert f"{ns}_c" not in tables(eng, pid)

    fixed = write_file(eng, pid, "002-ab.sql", f"{first}\nINSERT INTO {ns}_a VALUES (1);\n{last}")
    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    assert step(op, "apply_migrations")["detail"]["applied"] == ["002", "003"]
    assert rows(eng, pid) == [("001", "completed"), ("002", "completed"), ("003", "completed")]
    assert [a.outcome for a in attempts(eng, pid) if a.migration_version == "002"] == [
        "failed",
        "completed",
    ]
    assert ledger(eng, pid)["002"] == (fixed, 3, True)
    assert sql(eng, pid, f"SELECT COUNT(*) FROM {ns}_a") == [(1,)]
    assert eng.run("plugin_db.teardown", {"plugin_id": pid, "purge": True}).state == "succeeded"


def test_a_failed_version_without_its_file_blocks_later_ones_until_repaired(eng: Stack) -> None:
    pid, _ = new_plugin(eng, "bl", "exclusive-sqlite")
    write_file(eng, pid, "001-a.sql", "CREATE TABLE a (id INTEGER);")
    provision(eng, pid)
    write_file(eng, pid, "002-bad.sql", "INSERT INTO nowhere VALUES (1);")
    assert eng.run("plugin_db.migrate", {"plugin_id": pid}).state == "failed"
    (eng.plugins_root / pid / "migrations" / "002-bad.sql").unlink()
    write_file(eng, pid, "003-c.sql", "CREATE TABLE c (id INTEGER);")
    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert op.state == "failed" and "version 002 failed" in (op.error or "")
    assert "003" in op.error and "c" not in tables(eng, pid)
    repaired = json.loads(cli(eng, "migrations", "repair", pid, "--json").stdout)
    assert repaired["reset_failed"] == ["002"] and repaired["missing_files"] == ["002"]
    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    assert rows(eng, pid) == [("001", "completed"), ("002", "pending"), ("003", "completed")]


def test_dry_run_changes_nothing(eng: Stack) -> None:
    """Not even the ledger table is created; no row, no status change."""
    pid, _ = new_plugin(eng, "dr", "exclusive-sqlite")
    provision(eng, pid)  # no files yet: the storage stays empty
    write_file(eng, pid, "001-a.sql", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    write_file(eng, pid, "002-b.sql", "CREATE TABLE b (id INTEGER);", "DROP TABLE b;")
    before = eng.datasource(pid)
    op = eng.run("plugin_db.migrate", {"plugin_id": pid, "dry_run": True})
    assert op.state == "succeeded", op.error
    assert [s["version"] for s in op.result["sql"]] == ["001", "002"]
    assert tables(eng, pid) == set() and rows(eng, pid) == [] and attempts(eng, pid) == []
    after = eng.datasource(pid)
    assert before is not None and after is not None
    assert (after.status, after.descriptor) == (before.status, before.descriptor)


def test_rollback_reapply_and_force(eng: Stack) -> None:
    """Down to 001 and up again; force re-runs an applied version (its INSERT runs twice)."""
    pid, _ = new_plugin(eng, "rb", "exclusive-postgres")
    write_file(eng, pid, "001-t.sql", "CREATE TABLE t (n INTEGER);", "DROP TABLE t;")
    write_file(eng, pid, "002-row.sql", "INSERT INTO t (n) VALUES (1);", "DELETE FROM t;")
    provision(eng, pid)
    assert sql(eng, pid, "SELECT COUNT(*) FROM t") == [(1,)]
    down = eng.run("plugin_db.migrate", {"plugin_id": pid, "target": "001"})
    assert down.state == "succeeded", down.error
    assert rows(eng, pid) == [("001", "completed"), ("002", "rolled_back")]
    assert sql(eng, pid, "SELECT COUNT(*) FROM t") == [(0,)] and "002" not in ledger(eng, pid)
    assert eng.run("plugin_db.migrate", {"plugin_id": pid}).state == "succeeded"
    assert sql(eng, pid, "SELECT COUNT(*) FROM t") == [(1,)]
    forced = eng.run("plugin_db.migrate", {"plugin_id": pid, "target": "002", "force": True})
    assert forced.state == "succeeded", forced.error
    assert step(forced, "apply_migrations")["detail"]["applied"] == ["002"]
    assert sql(eng, pid, "SELECT COUNT(*) FROM t") == [(2,)]
    assert [
        (a.direction, a.outcome) for a in attempts(eng, pid) if a.migration_version == "002"
    ] == [
        ("up", "completed"),
        ("down", "rolled_back"),
        ("up", "completed"),
        ("up", "completed"),
    ]
    assert ledger(eng, pid)["002"][2] is True
    eng.run("plugin_db.teardown", {"plugin_id": pid, "purge": True})


def test_two_concurrent_requests_run_each_version_once(eng: Stack) -> None:
    """Two migrate requests at once on two workers: one applies, the other finds nothing."""
    pid, _ = new_plugin(eng, "cc", "exclusive-postgres")
    provision(eng, pid)
    for i in range(1, 4):
        write_file(eng, pid, f"00{i}-t{i}.sql", f"CREATE TABLE t{i} (id INTEGER);")
    ids: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: ids.append(eng.send("plugin_db.migrate", {"plugin_id": pid}))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ops = [eng.wait(i) for i in ids]
    assert [o.state for o in ops] == ["succeeded", "succeeded"], [o.error for o in ops]
    ups = [(a.migration_version, a.outcome) for a in attempts(eng, pid)]
    assert sorted(ups) == [("001", "completed"), ("002", "completed"), ("003", "completed")]
    assert {v: e[2] for v, e in ledger(eng, pid).items()} == {"001": True, "002": True, "003": True}
    applied = sorted(step(o, "apply_migrations").get("detail", {}).get("applied", []) for o in ops)
    assert applied == [[], ["001", "002", "003"]]
    eng.run("plugin_db.teardown", {"plugin_id": pid, "purge": True})


def test_a_held_lock_makes_migrate_and_repair_wait_then_give_up(eng: Stack) -> None:
    """Another process holds the plugin's lock: LockTimeout (retried); released, it runs."""
    pid, _ = new_plugin(eng, "lk", "exclusive-sqlite")
    provision(eng, pid)
    write_file(eng, pid, "001-a.sql", "CREATE TABLE a (id INTEGER);")
    provider, spec = provider_for(eng, pid)
    holder = provider.connect(spec, login_for(eng, provider, spec, pid))
    service = in_process(eng, lock_wait_seconds=0.3)
    op_id = service.accept(Kind.MIGRATE, {"plugin_id": pid}, (), f"lock-{pid}")
    with provider.migration_lock(spec, holder, 1.0):
        with pytest.raises(LockTimeout, match=f"another migrate of {pid}"):
            service.run(op_id)
        held = cli(eng, "migrations", "repair", pid, env={"PLUGIN_DB_LOCK_WAIT_SECONDS": "0.3"})
        assert held.exit_code == 1 and "migration lock" in held.output
    holder.close()
    assert service.run(op_id)["state"] == "succeeded"
    assert rows(eng, pid) == [("001", "completed")]
    assert "retry_scheduled" in [e.event for e in eng.audit(pid, op_id)]


def test_dependencies_first_cycles_and_missing_ones_refused(eng: Stack) -> None:
    base, _ = new_plugin(eng, "dpa", "exclusive-sqlite")
    app, _ = new_plugin(eng, "dpb", "exclusive-sqlite", dependencies=["core", base])
    for pid in (base, app):
        write_file(eng, pid, "001-a.sql", "CREATE TABLE a (id INTEGER);")
        provision(eng, pid)  # base first: app's dependency must be up to date
    for pid in (base, app):
        write_file(eng, pid, "002-b.sql", "CREATE TABLE b (id INTEGER);")
    op = eng.run("plugin_db.migrate", {"plugin_id": app})
    assert op.state == "failed"
    assert f"dependency {base} has pending migrations (002)" in (op.error or "")
    assert f"chain {app} -> {base}" in op.error and ("002", "completed") not in rows(eng, app)
    assert eng.run("plugin_db.migrate", {"plugin_id": base}).state == "succeeded"
    assert eng.run("plugin_db.migrate", {"plugin_id": app}).state == "succeeded"

    c1, c2 = f"cy-{base[4:]}", f"cz-{base[4:]}"
    for me, other in ((c1, c2), (c2, c1)):
        new_id, _ = new_plugin(eng, "tmp", "exclusive-sqlite", dependencies=[other])
        (eng.plugins_root / new_id).rename(eng.plugins_root / me)
        manifest = json.loads((eng.plugins_root / me / "plugin.json").read_text())
        manifest["id"] = me
        (eng.plugins_root / me / "plugin.json").write_text(json.dumps(manifest))
        write_file(eng, me, "001-a.sql", "CREATE TABLE a (id INTEGER);")
    op = eng.run("plugin_db.provision", {"plugin_id": c1})
    assert op.state == "failed" and f"dependency cycle: {c1} -> {c2} -> {c1}" in (op.error or "")
    lone, _ = new_plugin(eng, "dpm", "exclusive-sqlite", dependencies=["nope-gone"])
    write_file(eng, lone, "001-a.sql", "CREATE TABLE a (id INTEGER);")
    op = eng.run("plugin_db.provision", {"plugin_id": lone})
    assert op.state == "failed" and f"missing dependency: {lone} -> nope-gone" in (op.error or "")


def test_baseline_adopts_an_existing_schema(eng: Stack) -> None:
    pid, _ = new_plugin(eng, "bs", "exclusive-sqlite")
    provision(eng, pid)
    path = Path(eng.env["PLUGIN_DB_DATA_DIR"]) / "plugins" / f"{pid}.db"
    with sqlite3.connect(path) as conn:  # the schema exists already, made by hand
        conn.execute("CREATE TABLE a (id INTEGER)")
        conn.execute("CREATE TABLE b (id INTEGER)")
    write_file(eng, pid, "001-a.sql", "CREATE TABLE a (id INTEGER);")
    write_file(eng, pid, "002-b.sql", "CREATE TABLE b (id INTEGER);")
    write_file(eng, pid, "003-c.sql", "CREATE TABLE c (id INTEGER);")
    bad = cli(eng, "migrations", "baseline", pid, "009")
    assert bad.exit_code == 2 and "no migration file" in bad.output
    done = cli(eng, "migrations", "baseline", pid, "002", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["adopted"] == ["001", "002"]
    assert [(a.migration_version, a.outcome) for a in attempts(eng, pid)] == [
        ("001", "baselined"),
        ("002", "baselined"),
    ]
    assert "baselined" in (eng.migrations(pid)[0].migration_description or "")
    assert events(eng, pid, "migrations_baselined")[-1].details["adopted"] == ["001", "002"]
    op = eng.run("plugin_db.migrate", {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    assert step(op, "apply_migrations")["detail"]["applied"] == ["003"]

"""Quotas that hold: over limits.storageMb a plugin's own logins can read but not write;
below 95 % they write again. Statement timeouts are set on the logins."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

import pytest

from tests.integration.test_conformance import provider_for
from tests.migrations.support import cli, in_process, new_plugin, run_in_process, sql, write_file
from tests.safety.test_snapshots import VARIANTS, table
from tests.support.stack import Stack
from worker.states import Kind

FILL = {
    "exclusive-postgres": "INSERT INTO {t} SELECT g, (SELECT string_agg(md5(random()::text "
    "|| g || s), '') FROM generate_series(1, 28) s) FROM generate_series(1, 1800) g",
    "exclusive-mysql": "INSERT INTO {t} WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT "
    "n + 1 FROM g WHERE n < 900) SELECT g.n + h.k, REPEAT(MD5(RAND()), 28) FROM g, "
    "(SELECT 0 AS k UNION ALL SELECT 900) AS h",
    "exclusive-sqlite": "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
    "WHERE n < 1800) INSERT INTO {t} SELECT n, hex(randomblob(448)) FROM g",
}
FILL |= {
    "shared": FILL["exclusive-sqlite"],
    "shared-postgresql": FILL["exclusive-postgres"],
    "shared-mysql": FILL["exclusive-mysql"],
}


def provisioned(stack: Stack, mode: str) -> str:
    limits = {"storageMb": 1, "statementTimeoutMs": 5000, "idleInTransactionTimeoutMs": 60000}
    pid, _ = new_plugin(stack, "quota", VARIANTS[mode][0], limits=limits)
    filler = table(pid, mode, "filler")
    write_file(stack, pid, "001-filler.sql", f"CREATE TABLE {filler} (id INT PRIMARY KEY, v TEXT);")
    op = run_in_process(in_process(stack), Kind.PROVISION, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    return pid


def enforce(stack: Stack, pid: str) -> dict[str, Any]:
    result = cli(stack, "quotas", "enforce", "--plugin", pid, "--json")
    assert result.exit_code == 0, result.output
    (check,) = json.loads(result.stdout)["plugins"]
    assert check["error"] is None, check
    return dict(check)


def shrink(stack: Stack, pid: str, mode: str) -> None:
    """What an operator does to get back under the limit (as admin)."""
    provider, spec = provider_for(stack, pid)
    filler = table(pid, mode, "filler")
    if mode.startswith("shared"):
        conn = provider._open()  # type: ignore[attr-defined]
        try:
            cur = conn.cursor()
            cur.execute(f"DELETE FROM {filler}")
            full = {"sqlite": "VACUUM", "postgres": f"VACUUM FULL {filler}"}
            cur.execute(full.get(provider.dialect, f"OPTIMIZE TABLE {filler}"))
            if provider.dialect == "mysql":
                cur.fetchall()
        finally:
            conn.close()
    elif provider.dialect == "postgres":
        schema = provider.describe(spec).objects["schema"]
        with provider._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'DELETE FROM "{schema}".filler')
            conn.execute(f'VACUUM FULL "{schema}".filler')
    else:
        with provider._admin() as cur:  # type: ignore[attr-defined]
            cur.execute(f"DELETE FROM `{provider.database(spec)}`.filler")  # type: ignore[attr-defined]
            cur.execute(f"OPTIMIZE TABLE `{provider.database(spec)}`.filler")  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize(
    "mode", ["exclusive-postgres", "exclusive-mysql", "shared", "shared-postgresql", "shared-mysql"]
)
def test_over_quota_the_plugin_reads_but_cannot_write(lights: Any, mode: str) -> None:
    light = lights(VARIANTS[mode][1])
    pid = provisioned(light, mode)
    filler = table(pid, mode, "filler")
    sql(light, pid, FILL[mode].format(t=filler))  # through the plugin's own login
    check = enforce(light, pid)
    assert check["action"] == "made_read_only" and check["size_bytes"] > 1024 * 1024
    with pytest.raises(Exception, match=r"(?i)denied|permission|read-only"):
        sql(light, pid, f"INSERT INTO {filler} VALUES (0, 'more')")
    with pytest.raises(Exception, match=r"(?i)denied|permission|read-only|quota"):
        sql(light, pid, f"UPDATE {filler} SET v = 'x' WHERE id = 1")
    assert sql(light, pid, f"SELECT COUNT(*) FROM {filler}") == [(1800,)]
    assert enforce(light, pid)["action"] is None  # still over: nothing to change
    doctor = json.loads(cli(light, "doctor", "--plugin", pid, "--json").stdout)
    assert any(f["check"] == "quota_read_only" for f in doctor["findings"])
    assert [e for e in light.audit(pid) if e.event == "quota_exceeded"]

    shrink(light, pid, mode)
    check = enforce(light, pid)
    assert check["action"] == "made_writable" and not check["read_only"]
    sql(light, pid, f"INSERT INTO {filler} VALUES (0, 'more')")
    assert sql(light, pid, f"SELECT COUNT(*) FROM {filler}") == [(1,)]


@pytest.mark.postgres
def test_timeouts_are_role_settings(light: Stack) -> None:
    pid = provisioned(light, "exclusive-postgres")
    (row,) = sql(light, pid, "SELECT current_setting('statement_timeout')")
    assert row == ("5s",)
    (row,) = sql(light, pid, "SELECT current_setting('idle_in_transaction_session_timeout')")
    assert row == ("1min",)


@pytest.mark.mysql
def test_mariadb_statement_time_is_an_account_limit(light: Stack) -> None:
    pid = provisioned(light, "exclusive-mysql")
    assert sql(light, pid, "SELECT @@max_statement_time") == [(5.0,)]


def test_sqlite_quota_holds_on_the_plugins_own_connections(light: Stack) -> None:
    pid = provisioned(light, "exclusive-sqlite")
    provider, spec = provider_for(light, pid)
    path = provider.path(spec)  # type: ignore[attr-defined]
    with closing(sqlite3.connect(path)) as own:  # the plugin's own connection, not the worker's
        own.execute(FILL["exclusive-sqlite"].format(t="filler"))
        own.commit()
        assert enforce(light, pid)["action"] == "made_read_only"
        with pytest.raises(sqlite3.IntegrityError, match="storage quota exceeded"):
            own.execute("INSERT INTO filler VALUES (0, 'more')")
        assert own.execute("SELECT COUNT(*) FROM filler").fetchone() == (1800,)
        own.execute("DELETE FROM filler")  # deleting is how a plugin gets back under its limit
        own.commit()
        assert enforce(light, pid)["action"] == "made_writable"
        own.execute("INSERT INTO filler VALUES (0, 'more')")
        own.commit()

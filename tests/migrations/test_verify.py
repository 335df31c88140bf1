"""``plugin-db migrations verify``: UP, DOWN, UP on a scratch database of the plugin's dialect."""

from __future__ import annotations

import json

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.migrations.support import MODES, cli, events, new_plugin, write_file
from tests.support.services import service_url
from tests.support.stack import Stack


def reversible(stack: Stack, mode: str) -> tuple[str, str]:
    pid, ns = new_plugin(stack, "vf", mode)
    write_file(
        stack,
        pid,
        "001-items.sql",
        f"CREATE TABLE {ns}_items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n"
        f"CREATE INDEX idx_{ns}_items_name ON {ns}_items (name);",
        f"DROP TABLE {ns}_items;",
    )
    write_file(
        stack,
        pid,
        "002-tags.sql",
        f"CREATE TABLE {ns}_tags (id INTEGER PRIMARY KEY, item_id INTEGER "
        f"REFERENCES {ns}_items (id));\nCREATE UNIQUE INDEX idx_{ns}_tags ON {ns}_tags (item_id);",
        # MySQL keeps an index its foreign key needs: dropping the table drops both
        ("" if "mysql" in mode else f"DROP INDEX idx_{ns}_tags;\n") + f"DROP TABLE {ns}_tags;",
    )
    write_file(
        stack,
        pid,
        "003-note.sql",
        f"ALTER TABLE {ns}_items ADD COLUMN note VARCHAR(200);",
        f"ALTER TABLE {ns}_items DROP COLUMN note;",
    )
    return pid, ns


def scratch_left() -> list[str]:
    with psycopg.connect(service_url("PG_ADMIN_URL")) as conn:
        pg = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'plugin_db_verify_%'"
        ).fetchall()
    url = make_url(service_url("MYSQL_ADMIN_URL"))
    conn = pymysql.connect(host=url.host, port=url.port, user=url.username, password=url.password)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'plugin\\_db\\_verify\\_%'")
            my = cur.fetchall()
    finally:
        conn.close()
    return [r[0] for r in [*pg, *my]]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_reversible_migrations_verify_ok_and_leave_no_scratch(light: Stack, dialect: str) -> None:
    pid, _ = reversible(light, MODES[dialect])
    result = cli(light, "migrations", "verify", pid, "--json")
    verdict = json.loads(result.stdout)
    assert result.exit_code == 0, verdict["differences"]
    assert verdict["ok"] and verdict["versions"] == ["001", "002", "003"]
    assert verdict["differences"] == []
    (event,) = events(light, pid, "migrations_verified")
    assert event.details["ok"] is True and event.actor == "cli"
    assert scratch_left() == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_down_that_forgets_an_index_or_a_table_is_caught(light: Stack, dialect: str) -> None:
    pid, ns = reversible(light, MODES[dialect])
    write_file(  # DOWN forgets the index (an older DOWN drops the table later: still caught)
        light,
        pid,
        "004-idx.sql",
        f"CREATE INDEX idx_{ns}_note ON {ns}_items (name, id);\n"
        f"CREATE TABLE {ns}_audit (id INTEGER);",
        f"DROP TABLE {ns}_audit;",
    )
    write_file(light, pid, "005-log.sql", f"CREATE TABLE {ns}_log (id INTEGER);", "SELECT 1;")
    result = cli(light, "migrations", "verify", pid, "--json")
    assert result.exit_code == 1
    differences = json.loads(result.stdout)["differences"]
    assert differences[:2] == [
        f"after DOWN of 005: table {ns}_log is left over",
        f"after DOWN of 004: index on {ns}_items: idx_{ns}_note is left over",
    ]
    assert any(d.startswith("UP of 005 failed") for d in differences), differences
    assert events(light, pid, "migrations_verified")[-1].details["ok"] is False
    human = cli(light, "migrations", "verify", pid)
    assert human.exit_code == 1 and "not reversible" in human.stdout
    assert scratch_left() == []


def test_a_statement_naming_the_real_schema_is_refused_not_run(light: Stack) -> None:
    pid, ns = new_plugin(light, "vq", "exclusive-postgres")
    write_file(light, pid, "001-evil.sql", f"CREATE TABLE {ns}.items (id INTEGER);", "SELECT 1;")
    result = cli(light, "migrations", "verify", pid, "--json")
    assert result.exit_code == 1
    (difference,) = json.loads(result.stdout)["differences"]
    assert difference.startswith("UP of 001 refused") and ns in difference


def test_a_file_without_down_cannot_be_proven(light: Stack) -> None:
    pid, _ = new_plugin(light, "vn", "exclusive-sqlite")
    (light.plugins_root / pid / "migrations" / "001-a.sql").write_text(
        "-- UP Migration\nCREATE TABLE a (id INTEGER);\n"
    )
    result = cli(light, "migrations", "verify", pid, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["differences"] == [
        "001: has no DOWN part, so it cannot be undone"
    ]

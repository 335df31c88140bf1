"""A stack over two PostgreSQL and two MariaDB servers, each a target with a capacity.

Targets ``pg-a``/``pg-b`` are the PostgreSQL test servers (base port and +200), ``my-a``/
``my-b`` the MariaDB ones, ``files-a``/``-b``/``-c`` three SQLite folders, and ``shared-pg`` a
shared-mode database. ``pg-old`` (PostgreSQL 15, the second server) and ``pg-new``
(PostgreSQL 18) are closed: placement never picks them, so the kill-walk and the writer test
move plugins between them (requests name them) without touching the others' capacities. The
worker holds the relocation of :data:`WRITER` for a while inside its write freeze. Every
plugin id starts with :data:`PREFIX`; what the tests leave on the servers (schemas, roles,
databases, users with that prefix) is dropped at the end.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.support.env import fresh_pg_database, private_broker
from tests.support.services import service_url
from tests.support.stack import Stack, base_env

PREFIX = f"pl{secrets.token_hex(3)}"
WRITER = f"{PREFIX}-writer"
"""The plugin of the writer test: its relocation sleeps 2 s after the copy (frozen)."""

TARGETS = """
[targets.pg-a]
driver = "postgresql"
admin_url = "{pg_a}"
labels = {{ region = "eu" }}
capacity = {{ plugins = 40 }}

[targets.pg-b]
driver = "postgresql"
admin_url = "{pg_b}"
labels = {{ region = "eu" }}
capacity = {{ plugins = 20 }}

[targets.my-a]
driver = "mysql"
admin_url = "{my_a}"
capacity = {{ plugins = 40, storage_mb = 100000 }}

[targets.my-b]
driver = "mysql"
admin_url = "{my_b}"
capacity = {{ plugins = 20, storage_mb = 50000 }}

[targets.files-a]
driver = "sqlite"
admin_url = "{files_a}"
labels = {{ tier = "small" }}
capacity = {{ plugins = 3 }}

[targets.files-b]
driver = "sqlite"
admin_url = "{files_b}"
labels = {{ tier = "other" }}

[targets.files-c]
driver = "sqlite"
admin_url = "{files_c}"

[targets.shared-pg]
driver = "shared"
admin_url = "{shared}"

[targets.pg-old]
driver = "postgresql"
admin_url = "{pg_b}"
state = "closed"

[targets.pg-new]
driver = "postgresql"
admin_url = "{pg18}"
state = "closed"
"""


def _drop_pg(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for (schema,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [f"{PREFIX}%"]
        ).fetchall():
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        for (role,) in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [f"{PREFIX}%"]
        ).fetchall():
            conn.execute(f'DROP OWNED BY "{role}" CASCADE')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _drop_mysql(admin_url: str) -> None:
    url = make_url(admin_url)
    conn = pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
    )
    with closing(conn), conn.cursor() as cur:
        cur.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
            (f"plugin_{PREFIX}%",),
        )
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (f"{PREFIX}%",))
        for user, host in cur.fetchall():
            cur.execute(f"DROP USER IF EXISTS `{user}`@'{host}'")


def _drop_shared(url: str) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        for (table,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", [f"{PREFIX}%"]
        ).fetchall():
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


@pytest.fixture(scope="package")
def servers() -> dict[str, str]:
    """Admin URLs of the two PostgreSQL and two MariaDB test servers, and the shared db."""
    return {
        "pg_a": service_url("PG_ADMIN_URL"),
        "pg_b": service_url("PG_B_ADMIN_URL"),
        "pg18": service_url("PG18_ADMIN_URL"),
        "my_a": service_url("MYSQL_ADMIN_URL"),
        "my_b": service_url("MYSQL_B_ADMIN_URL"),
        "shared": service_url("PG_SHARED_URL"),
    }


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory, servers: dict[str, str]) -> Iterator[Stack]:
    """The stack: PostgreSQL tracking, the targets file, one worker of 4 processes."""
    workdir: Path = tmp_path_factory.mktemp("fleet")
    files = {f"files_{x}": str(workdir / f"files-{x}") for x in "abc"}
    targets = workdir / "targets.toml"
    targets.write_text(TARGETS.format(**servers, **files))
    with fresh_pg_database() as tracking:
        env = base_env(workdir, private_broker(), tracking)
        env["PLUGIN_DB_TARGETS"] = str(targets)
        env["PLUGIN_DB_FAILPOINTS"] = f"after:copy_data@{WRITER}=sleep:2"
        stack = Stack(env, workdir)
        stack.start_worker(concurrency=4, beat=False)
        try:
            yield stack
        finally:
            stack.stop()
            stack.engine.dispose()
            for key in ("pg_a", "pg_b", "pg18"):
                _drop_pg(servers[key])
            for key in ("my_a", "my_b"):
                _drop_mysql(servers[key])
            _drop_shared(servers["shared"])


@pytest.fixture
def plugin_ids() -> Iterator[Iterator[str]]:
    """Fresh plugin ids with the package's prefix."""

    def ids() -> Iterator[str]:
        n = 0
        while True:
            n += 1
            yield f"{PREFIX}-{secrets.token_hex(2)}{n}"

    yield ids()

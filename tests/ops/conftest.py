"""One stack for the ops tests, isolated so the doctor's orphan scans see only its own objects.

PostgreSQL: a fresh database is the provider's admin database. MariaDB: a restricted admin
that has rights on ``plugin_<PREFIX>%`` databases only, so ``information_schema`` shows it
nothing of other stacks. Every plugin id starts with :data:`PREFIX`. The worker runs without
beat: nothing reconciles the stuck operations the tests make on purpose.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.ops.helpers import PREFIX
from tests.support.env import private_broker
from tests.support.services import service_url
from tests.support.stack import Stack, base_env
from worker.logging import configure
from worker.settings import process_settings


@contextmanager
def isolated_postgres() -> Iterator[str]:
    """A fresh plugins database; yields its admin URL. Drops it and the prefixed roles after."""
    name = f"ops_{PREFIX}"
    superuser = service_url("PG_URL")
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield service_url("PG_ADMIN_URL").rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            roles = conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [f"{PREFIX}%"]
            ).fetchall()
            for (role,) in roles:
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def mysql_admin(url: str | None = None) -> Any:
    """An autocommit PyMySQL connection (the server's admin unless ``url`` is given)."""
    parsed = make_url(url or service_url("MYSQL_ADMIN_URL"))
    return pymysql.connect(
        host=parsed.host,
        port=parsed.port or 3306,
        user=parsed.username,
        password=parsed.password or "",
        autocommit=True,
    )


@contextmanager
def isolated_mysql() -> Iterator[str]:
    """A MariaDB admin with rights on ``plugin_<PREFIX>%`` only; yields its URL."""
    user, password = f"ops_{PREFIX}", secrets.token_hex(12)
    account = f"`{user}`@'%'"
    with closing(mysql_admin()) as conn, conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS {account}")
        cur.execute(f"CREATE USER {account} IDENTIFIED BY '{password}'")  # hex: safe inline
        cur.execute(f"GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO {account}")
        cur.execute(f"GRANT SELECT ON `mysql`.* TO {account}")
        # an unescaped '_' here: MariaDB refuses GRANTs that rely on an escaped-pattern grant
        cur.execute(f"GRANT ALL PRIVILEGES ON `plugin_{PREFIX}%`.* TO {account} WITH GRANT OPTION")
    base = make_url(service_url("MYSQL_ADMIN_URL"))
    try:
        yield f"mysql+pymysql://{user}:{password}@{base.host}:{base.port}/"
    finally:
        with closing(mysql_admin()) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                (f"plugin_{PREFIX}%",),
            )
            for (name,) in cur.fetchall():
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute("SELECT User FROM mysql.user WHERE User LIKE %s", (f"{PREFIX}%",))
            for (login,) in cur.fetchall():
                cur.execute(f"DROP USER IF EXISTS `{login}`@'%'")
            cur.execute(f"DROP USER IF EXISTS {account}")


@pytest.fixture(scope="package")
def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The ops tests' stack: SQLite tracking and shared databases, one worker, no beat."""
    workdir: Path = tmp_path_factory.mktemp("ops")
    with isolated_postgres() as pg_admin, isolated_mysql() as mysql_admin_url:
        env = base_env(
            workdir,
            private_broker(),
            f"sqlite:///{workdir / 'tracking.db'}",
            shared_url=f"sqlite:///{workdir / 'shared.db'}",
            postgres_admin_url=pg_admin,
            mysql_admin_url=mysql_admin_url,
        )
        stack = Stack(env, workdir)
        stack.start_worker(concurrency=4, beat=False)
        try:
            yield stack
        finally:
            stack.stop()
            stack.engine.dispose()


@pytest.fixture
def cli(ops_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Invoke ``plugin-db`` in-process against the ops stack (logs to stderr, as ``main``)."""
    from worker.cli import app
    from worker.cli.common import sessions, settings

    configure(json=False, level=logging.WARNING)
    for key, value in ops_stack.env.items():
        monkeypatch.setenv(key, value)
    settings.cache_clear()
    sessions.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    settings.cache_clear()
    sessions.cache_clear()


@pytest.fixture
def task_env(ops_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run maintenance tasks in-process (``task.run()``) with the stack's settings."""
    from tasks import base, maintenance

    for key, value in ops_stack.env.items():
        monkeypatch.setenv(key, value)
    for cached in (base.service, maintenance._app_for, process_settings):
        cached.cache_clear()  # the process reads its settings once: read them again here
    yield
    for cached in (base.service, maintenance._app_for, process_settings):
        cached.cache_clear()

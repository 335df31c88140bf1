"""Security through the worker: isolation across plugins, no password anywhere, key rotation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import closing
from typing import Any

import psycopg
import pymysql
import pytest
from cryptography.fernet import Fernet

from tests.faults.support import (
    assert_no_leak,
    box_of,
    issued,
    login_of,
    redis_dump,
    secret_payload,
)
from tests.faults.walk import new_plugin
from tests.support.env import fresh_pg_database
from tests.support.leak_stacks import MakeStack
from tests.support.services import service_url
from tests.support.stack import ROOT, Stack
from worker import secrets
from worker.errors import PermanentError
from worker.naming import namespace
from worker.tracking import db
from worker.tracking.models import PluginSecret

pytestmark = [pytest.mark.postgres, pytest.mark.mysql, pytest.mark.redis]


def provision(stack: Stack, *plugins: str) -> None:
    for plugin_id in plugins:
        op = stack.run("plugin_db.provision", {"plugin_id": plugin_id}, timeout=90)
        assert op.state == "succeeded", op.error


def rows(stack: Stack, plugin_id: str, sql: str) -> list[tuple[Any, ...]]:
    provider, spec, login = login_of(stack, plugin_id)
    with closing(provider.connect(spec, login)) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def test_postgres_plugin_credentials_cannot_reach_another_plugins_schema(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(tracking="postgresql")
    stack.start_worker()
    a, b = (new_plugin(stack, "postgresql", prefix="s") for _ in range(2))
    provision(stack, a, b)
    nb = namespace(b)
    rows(stack, b, f"INSERT INTO {nb}_items (id, name) VALUES (1, 'secret of b')")
    provider, spec, login = login_of(stack, a)
    assert login is not None
    attempts = [
        f"SELECT * FROM {nb}.{nb}_items",
        f"INSERT INTO {nb}.{nb}_items (id, name) VALUES (2, 'from a')",
        f"CREATE TABLE {nb}.planted (id int)",
        f"SET ROLE {nb}_owner",
        f"SET ROLE {nb}_a",
        f"ALTER SCHEMA {nb} RENAME TO stolen",
        f"DROP SCHEMA {nb} CASCADE",
        "CREATE SCHEMA sneaky",
        "CREATE TABLE public.sneaky (id int)",
    ]
    for sql in attempts:
        with closing(provider.connect(spec, login)) as conn, pytest.raises(psycopg.Error):
            conn.execute(sql)
    with closing(provider.connect(spec, login)) as conn:
        conn.execute(f"SET search_path TO {nb}")
        with pytest.raises(psycopg.errors.UndefinedTable):  # no USAGE: the schema is not searched
            conn.execute(f"SELECT * FROM {nb}_items")
    assert rows(stack, b, f"SELECT id, name FROM {nb}_items") == [(1, "secret of b")]
    # the login of a cannot log in as b's roles, nor read the tracking tables (secrets)
    params = psycopg.conninfo.conninfo_to_dict(service_url("PG_ADMIN_URL"))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(**{**params, "user": f"{nb}_a", "password": login.password})
    tracking = stack.env["PLUGIN_DB_DATABASE_URL"].rsplit("/", 1)[1]
    try:
        conn = psycopg.connect(
            **{**params, "dbname": tracking, "user": login.username, "password": login.password}
        )
    except psycopg.OperationalError:
        pass  # not even a connection
    else:
        with conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT ciphertext FROM public.plugin_secrets")


def test_mysql_plugin_cannot_see_another_plugins_database_or_shared(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start_worker()
    a, b = (new_plugin(stack, "mysql", prefix="s") for _ in range(2))
    provision(stack, a, b)
    db_b = f"plugin_{namespace(b)}"
    rows(stack, b, f"INSERT INTO {namespace(b)}_items (id, name) VALUES (1, 'secret of b')")
    provider, spec, login = login_of(stack, a)
    with closing(provider.connect(spec, login)) as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        visible = {r[0] for r in cur.fetchall()}
        assert db_b not in visible and "shared" not in visible and "mysql" not in visible
        assert f"plugin_{namespace(a)}" in visible
        for sql in (
            f"SELECT * FROM {db_b}.{namespace(b)}_items",
            f"USE {db_b}",
            "USE shared",
            "SELECT * FROM shared.information_schema_probe",
            "SELECT User, authentication_string FROM mysql.user",
            f"CREATE TABLE {db_b}.planted (id int)",
            f"DROP DATABASE {db_b}",
            "CREATE DATABASE sneaky",
            f"GRANT ALL ON {db_b}.* TO CURRENT_USER",
        ):
            with pytest.raises(pymysql.err.MySQLError) as raised:
                cur.execute(sql)
            assert raised.value.args[0] in (1044, 1045, 1142, 1143, 1227, 1410), (sql, raised.value)
    assert rows(stack, b, f"SELECT id, name FROM {namespace(b)}_items") == [(1, "secret of b")]


def test_no_issued_password_appears_in_logs_tables_results_or_redis(make_stack: MakeStack) -> None:
    """Every password of a full lifecycle (two rotations each) is searched for everywhere."""
    stack = make_stack(tracking="postgresql")
    stack.start_worker()
    plugins = [new_plugin(stack, "postgresql", prefix="p"), new_plugin(stack, "mysql", prefix="p")]
    results = []
    for plugin_id in plugins:
        # through Celery with results, so that the result backend is searched as well
        results.append(
            stack.producer.send_task(
                "plugin_db.provision", args=[{"plugin_id": plugin_id}], queue="plugin-db"
            )
        )
    assert {r.get(timeout=90)["state"] for r in results} == {"succeeded"}
    for plugin_id in plugins:
        secret_payload(stack, plugin_id)
        for _ in range(2):
            result = stack.producer.send_task(
                "plugin_db.rotate_credentials", args=[{"plugin_id": plugin_id}], queue="plugin-db"
            )
            assert result.get(timeout=90)["state"] == "succeeded"
            secret_payload(stack, plugin_id)
        assert stack.run("plugin_db.migrate", {"plugin_id": plugin_id, "target": "0"}).state == (
            "succeeded"
        )
        bad = stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": "yes"})
        assert bad.state == "rejected"
        purged = stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True})
        assert purged.state == "succeeded"
    passwords = issued(stack)
    assert len(passwords) == 6  # per plugin: slot a at provision, then b and a again
    assert "celery-task-meta-" in redis_dump(stack.env["PLUGIN_DB_BROKER_URL"])
    assert assert_no_leak(stack, passwords) == 6
    with stack.sessions() as session:
        assert session.query(PluginSecret).count() == 0


def _cli(stack: Stack, *args: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.env, "PLUGIN_DB_SECRET_KEY": keys}
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_secret_key_rotation_new_old_then_new_alone(make_stack: MakeStack) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stack = make_stack(PLUGIN_DB_SECRET_KEY=old)
    stack.all_keys = f"{new},{old}"  # type: ignore[attr-defined]
    first = stack.start_worker()
    p, q = new_plugin(stack, "postgresql", prefix="k"), new_plugin(stack, "mysql", prefix="k")
    provision(stack, p, q)
    stack.kill(first)

    # 1. workers get NEW,OLD: what OLD encrypted still decrypts; new writes use NEW
    stack.start_worker(extra_env={"PLUGIN_DB_SECRET_KEY": f"{new},{old}"})
    for plugin_id in (p, q):
        assert secret_payload(stack, plugin_id, keys=f"{new},{old}") is not None
    op = stack.run("plugin_db.rotate_credentials", {"plugin_id": p})
    assert op.state == "succeeded", op.error
    assert secret_payload(stack, p, keys=new) is not None  # re-sealed by the rotation
    with pytest.raises(PermanentError):
        secret_payload(stack, q, keys=new)  # still under OLD

    # 2. plugin-db secret-key --rotate re-encrypts everything under NEW
    done = _cli(stack, "secret-key", "--rotate", "--json", keys=f"{new},{old}")
    assert done.returncode == 0, done.stderr
    assert '"rotated": 2' in done.stdout
    events = [e for e in stack.audit() if e.event == "secret_key_rotated"]
    assert len(events) == 1 and events[0].details["count"] == 2
    with stack.sessions() as session:
        tokens = [row.ciphertext for row in session.query(PluginSecret)]
    assert len(tokens) == 2
    for token in tokens:
        box_of(stack, new).open(token)
        with pytest.raises(PermanentError):
            box_of(stack, old).open(token)

    # 3. NEW alone: the worker still reads every credential and rotates through it
    for proc in stack.workers:
        if proc.poll() is None:
            stack.kill(proc)
    stack.start_worker(extra_env={"PLUGIN_DB_SECRET_KEY": new})
    before = secret_payload(stack, q, keys=new)
    op = stack.run("plugin_db.rotate_credentials", {"plugin_id": q})
    assert op.state == "succeeded", op.error
    after = secret_payload(stack, q, keys=new)
    assert before is not None and after is not None and after["active"] != before["active"]
    for plugin_id in (p, q):
        provider, spec, login = login_of(stack, plugin_id, keys=new)
        with closing(provider.connect(spec, login)):
            pass
    # with a key that is not among the configured ones the command fails cleanly
    wrong = _cli(stack, "secret-key", "--rotate", keys=Fernet.generate_key().decode())
    assert wrong.returncode == 1 and "cannot be decrypted" in (wrong.stdout + wrong.stderr)


def test_key_rotation_does_not_overwrite_a_credential_rotated_meanwhile() -> None:
    """``rotate_all`` racing a worker that stores a new password for the same plugin.

    Before the fix the rows were read without a lock: a rotation committed in between was
    overwritten by the re-encrypted older payload, leaving a password that no longer matched
    the database role.
    """
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with fresh_pg_database() as url:
        db.upgrade(url)
        engine = db.make_engine(url)
        sessions = db.make_sessionmaker(engine)
        both = secrets.SecretBox((new, old))
        with sessions.begin() as session:
            ref = secrets.store(
                session,
                secrets.SecretBox((old,)),
                "race",
                None,
                {"slots": {"a": "first"}, "active": "a"},
            )
        rotation = sessions()
        rotation.begin()
        assert secrets.rotate_all(rotation, both) == 1

        def worker_rotates() -> None:
            with sessions.begin() as session:
                secrets.store(
                    session,
                    both,
                    "race",
                    ref,
                    {"slots": {"a": "first", "b": "second"}, "active": "b"},
                )

        writer = threading.Thread(target=worker_rotates)
        writer.start()
        writer.join(timeout=2)  # with the lock it waits for the rotation's commit
        rotation.commit()
        rotation.close()
        writer.join(timeout=30)
        assert not writer.is_alive()
        with sessions() as session:
            payload = secrets.load(session, both, ref)
        engine.dispose()
    assert payload is not None and payload["active"] == "b", "a rotated credential was lost"

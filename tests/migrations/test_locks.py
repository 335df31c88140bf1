"""The per-plugin migration lock on real servers: bounded wait, release, crash release."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url

from providers import locks
from providers.base import PluginSpec
from providers.mysql import MySQLProvider
from providers.postgres import PostgresProvider
from providers.sqlite import SQLiteProvider
from tests.support.services import service_url
from worker.errors import LockTimeout, TransientError


def _pg() -> Any:
    return psycopg.connect(service_url("PG_ADMIN_URL"), autocommit=True)


def _mysql() -> Any:
    url = make_url(service_url("MYSQL_ADMIN_URL"))
    return pymysql.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, autocommit=True
    )


def _cases(tmp: Path) -> dict[str, tuple[Any, Callable[[], Any]]]:
    db = tmp / "plugin.db"
    return {
        "postgres": (PostgresProvider(service_url("PG_ADMIN_URL")), _pg),
        "mysql": (MySQLProvider(service_url("MYSQL_ADMIN_URL")), _mysql),
        "sqlite": (SQLiteProvider(tmp), lambda: sqlite3.connect(db, isolation_level=None)),
    }


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite"])
def test_one_holder_at_a_time_bounded_wait_and_release(dialect: str, tmp_path: Path) -> None:
    provider, connect = _cases(tmp_path)[dialect]
    spec = PluginSpec(f"lk-{uuid.uuid4().hex[:8]}")
    other = PluginSpec(f"lk-{uuid.uuid4().hex[:8]}")
    first, second = connect(), connect()
    try:
        with provider.migration_lock(spec, first, 1.0):
            started = time.monotonic()
            match = f"another migrate of {spec.plugin_id}"
            with (
                pytest.raises(LockTimeout, match=match) as exc,
                provider.migration_lock(spec, second, 0.3),
            ):
                pass
            assert 0.25 <= time.monotonic() - started < 3
            assert isinstance(exc.value, TransientError)  # retried by the task
            with provider.migration_lock(other, second, 0.3):
                pass  # another plugin's lock is independent
        with provider.migration_lock(spec, second, 0.3):
            pass  # released when the block ended
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_a_dead_connection_cannot_keep_a_server_lock(dialect: str, tmp_path: Path) -> None:
    provider, connect = _cases(tmp_path)[dialect]
    spec = PluginSpec(f"lk-{uuid.uuid4().hex[:8]}")
    crashed, survivor = connect(), connect()
    held = provider.migration_lock(spec, crashed, 0.5)
    held.__enter__()  # never exited: the process "dies" holding it
    crashed.close()
    try:
        with provider.migration_lock(spec, survivor, 5.0):
            pass
    finally:
        survivor.close()


def test_a_crashed_sqlite_lease_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "LEASE_SECONDS", 0.5)
    provider, connect = _cases(tmp_path)["sqlite"]
    spec = PluginSpec(f"lk-{uuid.uuid4().hex[:8]}")
    crashed, survivor = connect(), connect()
    held = provider.migration_lock(spec, crashed, 0.5)  # referenced: no cleanup on GC
    held.__enter__()
    crashed.close()
    with pytest.raises(LockTimeout), provider.migration_lock(spec, survivor, 0.1):
        pass
    started = time.monotonic()
    with provider.migration_lock(spec, survivor, 3.0) as lease:
        lease.renew()
        assert time.monotonic() - started < 2
    survivor.close()
    del held


def test_a_sqlite_lease_of_a_dead_local_process_is_taken_over_at_once(tmp_path: Path) -> None:
    provider, connect = _cases(tmp_path)["sqlite"]
    spec = PluginSpec(f"lk-{uuid.uuid4().hex[:8]}")
    dead = subprocess.Popen(["true"])  # a pid that has exited
    dead.wait()
    conn = connect()
    try:
        with provider.migration_lock(spec, conn, 0.1):
            pass  # creates the lock table
        table = f"{provider.history_table_name(spec)}_lock"
        conn.execute(
            f"INSERT INTO {table} (name, owner, expires_at) VALUES (?, ?, ?)",
            (
                locks.lock_name(spec.plugin_id),
                f"{socket.gethostname()}:{dead.pid}:x",
                time.time() + 600,
            ),
        )
        with provider.migration_lock(spec, conn, 0.1):
            pass  # the holder is gone: no wait for the expiry
        conn.execute(
            f"INSERT INTO {table} (name, owner, expires_at) VALUES (?, ?, ?)",
            (
                locks.lock_name(spec.plugin_id),
                f"{socket.gethostname()}:{os.getpid()}:x",
                time.time() + 600,
            ),
        )
        with pytest.raises(LockTimeout), provider.migration_lock(spec, conn, 0.1):
            pass  # a live holder keeps it
    finally:
        conn.close()

"""Fixtures: real servers (scripts/services.sh), real worker processes, and their cleanup."""

from __future__ import annotations

import atexit
import itertools
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.support.services import service_url
from tests.support.stack import Stack, base_env, flush_redis

_REDIS_DBS = itertools.cycle(range(16))  # each stack gets a Redis database of its own
_private_redis: dict[str, Any] = {}


def _redis_base() -> str:
    """This test session's own redis-server (so concurrent sessions never share a queue)."""
    if "url" not in _private_redis:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}"
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        atexit.register(proc.terminate)
        _private_redis.update(url=url, proc=proc)
    return str(_private_redis["url"])


def _broker() -> str:
    """A flushed Redis database that no other running stack uses."""
    url = f"{_redis_base()}/{next(_REDIS_DBS)}"
    flush_redis(url)
    return url


@pytest.fixture
def redis_url() -> str:
    """A flushed Redis database of this session's Redis server."""
    return _broker()


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (SQLAlchemy URL), dropped afterwards."""
    admin = service_url("PG_URL")
    name = f"tracking_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield service_url("PG_TRACKING_URL").rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_tracking_url() -> Iterator[str]:
    """A fresh PostgreSQL tracking database for the session."""
    with fresh_pg_database() as url:
        yield url


def provider_urls() -> dict[str, str]:
    """Admin URLs of the PostgreSQL and MariaDB test servers."""
    return {
        "postgres_admin_url": service_url("PG_ADMIN_URL"),
        "mysql_admin_url": service_url("MYSQL_ADMIN_URL"),
    }


def sqlite_stack(workdir: Path, broker_url: str | None = None) -> Stack:
    """A stack rooted at ``workdir``: SQLite tracking and shared databases, the test servers."""
    env = base_env(
        workdir,
        broker_url or _broker(),
        f"sqlite:///{workdir / 'tracking.db'}",
        shared_url=f"sqlite:///{workdir / 'shared.db'}",
        **provider_urls(),
    )
    return Stack(env, workdir)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack on a SQLite tracking database with one running worker (shared mode on SQLite)."""
    stack = sqlite_stack(tmp_path_factory.mktemp("stack"))
    stack.start_worker()
    yield stack
    stack.stop()
    stack.engine.dispose()


@pytest.fixture
def fresh_stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    """A stack with no worker yet, for tests that start, kill and restart workers themselves."""
    stack = sqlite_stack(tmp_path, redis_url)
    yield stack
    stack.stop()
    stack.engine.dispose()


def unique_id(prefix: str) -> str:
    """A plugin id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"

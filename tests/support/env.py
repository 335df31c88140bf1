"""Test environment helpers: private Redis, fresh databases, stacks, unique ids.

Test packages import these from here (never from another package's conftest).
"""

from __future__ import annotations

import atexit
import itertools
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.support.redis import RedisServer
from tests.support.services import service_url
from tests.support.stack import Stack, base_env, flush_redis

_REDIS_DBS = itertools.cycle(range(16))  # each stack gets a Redis database of its own
_session_redis: list[RedisServer] = []


def session_redis_url() -> str:
    """This test session's own redis-server (so concurrent sessions never share a queue)."""
    if not _session_redis:
        server = RedisServer(Path(tempfile.mkdtemp(prefix="plugin-db-redis-")))
        server.start()
        atexit.register(server.stop)
        _session_redis.append(server)
    return _session_redis[0].url


def private_broker() -> str:
    """A flushed Redis database that no other running stack uses."""
    url = f"{session_redis_url()}/{next(_REDIS_DBS)}"
    flush_redis(url)
    return url


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
        broker_url or private_broker(),
        f"sqlite:///{workdir / 'tracking.db'}",
        shared_url=f"sqlite:///{workdir / 'shared.db'}",
        **provider_urls(),
    )
    return Stack(env, workdir)


def unique_id(prefix: str) -> str:
    """A plugin id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"

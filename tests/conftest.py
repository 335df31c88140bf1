"""Fixtures: real servers (scripts/services.sh), real worker processes, and their cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import (
    fresh_pg_database,
    private_broker,
    provider_urls,
    sqlite_stack,
    unique_id,
)
from tests.support.stack import Stack, upgrade

pytest_plugins = ["tests.support.leak_stacks"]
_broker = private_broker  # the former name, for suites that still use it
__all__ = ["_broker", "fresh_pg_database", "provider_urls", "sqlite_stack", "unique_id"]


@pytest.fixture
def redis_url() -> str:
    """A flushed Redis database of this session's Redis server."""
    return private_broker()


@pytest.fixture(scope="session")
def pg_tracking_url() -> Iterator[str]:
    """A fresh PostgreSQL tracking database for the session."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An up-to-date tracking database of each kind: a SQLite file, the session's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tracking.db'}"
    else:
        url = request.getfixturevalue("pg_tracking_url")
    upgrade(url)
    return url


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

"""Fixtures shared by the fault and hostile-input suites: a private Redis server and stacks
that check for leaked passwords on exit. Registered for every package by the root conftest
(``pytest_plugins``), so no test package imports another's fixtures."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.faults.support import RedisServer, assert_no_leak, harvest, kill_all
from tests.support.env import fresh_pg_database, provider_urls
from tests.support.stack import Stack, base_env, flush_redis

MakeStack = Callable[..., Stack]


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server only this test session uses (other runs on the machine share 16379)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_dbs(private_redis: RedisServer) -> Iterator[int]:
    return itertools.cycle(range(16))


@pytest.fixture
def make_stack(
    tmp_path: Path, private_redis: RedisServer, redis_dbs: Iterator[int]
) -> Iterator[MakeStack]:
    """Build stacks (no worker started); each is searched for leaked passwords and stopped."""
    made: list[Stack] = []
    cleanup = ExitStack()

    def build(*, tracking: str = "sqlite", broker: str | None = None, **env: str) -> Stack:
        workdir = tmp_path / f"stack{len(made)}"
        workdir.mkdir()
        if broker is None:
            broker = f"{private_redis.url}/{next(redis_dbs)}"
            flush_redis(broker)
        if tracking == "postgresql":
            url = cleanup.enter_context(fresh_pg_database())
        else:
            url = f"sqlite:///{workdir / 'tracking.db'}"
        urls: dict[str, Any] = {
            "shared_url": f"sqlite:///{workdir / 'shared.db'}",
            **provider_urls(),
        }
        stack = Stack({**base_env(workdir, broker, url, **urls), **env}, workdir)
        made.append(stack)
        return stack

    yield build
    try:
        for stack in made:
            kill_all(stack)
            passwords = harvest(stack)
            if passwords:
                assert_no_leak(stack, passwords)
    finally:
        for stack in made:
            kill_all(stack)
            stack.engine.dispose()
        cleanup.close()

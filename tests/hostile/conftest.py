"""Hostile-input tests share the fault tests' private Redis and leak-checking stacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.env import fresh_pg_database, provider_urls
from tests.support.stack import Stack, base_env


@contextmanager
def pg_tracked_stack(redis_url: str, workdir: Path) -> Iterator[Stack]:
    """A running worker on a fresh PostgreSQL tracking database, stopped afterwards."""
    with fresh_pg_database() as tracking:
        env = base_env(
            workdir,
            redis_url,
            tracking,
            shared_url=f"sqlite:///{workdir / 'shared.db'}",
            **provider_urls(),
        )
        stack = Stack(env, workdir)
        stack.start_worker(concurrency=2, beat=False)
        try:
            yield stack
        finally:
            stack.stop()
            stack.engine.dispose()

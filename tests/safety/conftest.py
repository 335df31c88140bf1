"""Light stacks for in-process tests: tracking database and settings, no worker process.

``light`` is the default one (SQLite tracking and shared database, superuser PostgreSQL
admin); ``lights(variant)`` gives the others, made on first use: ``pg-managed`` (the
managed-like PostgreSQL admin: no superuser), ``shared-postgresql`` and ``shared-mysql``
(shared mode on those servers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.env import private_broker, provider_urls, sqlite_stack
from tests.support.services import service_url
from tests.support.stack import Stack, base_env

_VARIANTS = {
    "pg-managed": {"postgres_admin_url": "PG_NONSUPER_ADMIN_URL"},
    "shared-postgresql": {"shared_url": "PG_SHARED_URL"},
    "shared-mysql": {"shared_url": "MYSQL_SHARED_URL"},
}


def _variant_stack(workdir: Path, variant: str) -> Stack:
    urls = {**provider_urls(), "shared_url": f"sqlite:///{workdir / 'shared.db'}"}
    urls |= {k: service_url(v) for k, v in _VARIANTS[variant].items()}
    env = base_env(workdir, private_broker(), f"sqlite:///{workdir / 'tracking.db'}", **urls)
    return Stack(env, workdir)


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose operations run in this process (``support.in_process``) or not at all."""
    stack = sqlite_stack(tmp_path_factory.mktemp("light"))
    yield stack
    stack.engine.dispose()


@pytest.fixture(scope="module")
def lights(
    light: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Stack]]:
    """Light stacks by variant (``default`` is ``light``)."""
    made: dict[str, Stack] = {"default": light}

    def get(variant: str) -> Stack:
        if variant not in made:
            made[variant] = _variant_stack(tmp_path_factory.mktemp(variant), variant)
        return made[variant]

    yield get
    for variant, stack in made.items():
        if variant != "default":
            stack.engine.dispose()

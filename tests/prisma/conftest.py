"""Fixtures of the Prisma suites: the npm toolchain, a worker with the API, a CLI-made token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.prisma.support import cli
from tests.support.api import Api, sqlite_api
from tests.support.node import Toolchain, toolchain


@pytest.fixture(scope="module")
def node() -> Toolchain:
    """The npm packages (installed by scripts/node-deps.sh; fails, never skips, without npm)."""
    return toolchain()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A worker and a ``plugin-db api`` process on one stack."""
    with sqlite_api(tmp_path_factory.mktemp("prisma")) as served:
        yield served


@pytest.fixture(scope="module")
def token(api: Api) -> str:
    """A token made the operator's way, with ``plugin-db tokens create``."""
    scopes = ["plugins:write", "plugins:read", "connections:read"]
    made = cli(api.stack, "tokens", "create", "prisma", *[f"--scope={s}" for s in scopes], "--json")
    assert made.returncode == 0, made.stderr
    value: str = json.loads(made.stdout)["token"]
    return value


@pytest.fixture
def purge_after(api: Api) -> Iterator[list[str]]:
    """Plugins to purge at the end (PostgreSQL roles and schemas outlive the test otherwise)."""
    plugins: list[str] = []
    yield plugins
    for plugin_id in plugins:
        api.stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True}, timeout=120)


@pytest.fixture(scope="module")
def http(api: Api, token: str) -> Iterator[httpx.Client]:
    """An HTTP client holding the token."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api.url, headers=headers, timeout=30) as client:
        yield client

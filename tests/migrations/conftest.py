"""A light stack for in-process tests: tracking database and settings, no worker process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import _broker, provider_urls
from tests.support.stack import Stack, base_env


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose operations run in this process (``support.in_process``) or not at all."""
    workdir = tmp_path_factory.mktemp("light")
    env = base_env(
        workdir,
        _broker(),
        f"sqlite:///{workdir / 'tracking.db'}",
        shared_url=f"sqlite:///{workdir / 'shared.db'}",
        **provider_urls(),
    )
    stack = Stack(env, workdir)
    yield stack
    stack.engine.dispose()

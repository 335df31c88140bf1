"""A light stack for in-process tests: tracking database and settings, no worker process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.env import sqlite_stack
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose operations run in this process (``support.in_process``) or not at all."""
    stack = sqlite_stack(tmp_path_factory.mktemp("light"))
    yield stack
    stack.engine.dispose()

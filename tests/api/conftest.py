"""Fixtures of the HTTP API suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.support import Api
from tests.support.env import sqlite_stack


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A stack with a worker and a real ``plugin-db api`` process."""
    stack = sqlite_stack(tmp_path_factory.mktemp("api"))
    stack.start_worker()
    served = Api(stack)
    served.start()
    yield served
    served.stop()
    stack.stop()
    stack.engine.dispose()

"""A stack with a worker and a real ``plugin-db api`` process serving the console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.support import Api
from tests.conftest import sqlite_stack


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    stack = sqlite_stack(tmp_path_factory.mktemp("console"))
    stack.start_worker()
    served = Api(stack)
    served.start()
    yield served
    served.stop()
    stack.stop()

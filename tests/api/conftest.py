"""Fixtures of the HTTP API suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import Api, sqlite_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A stack with a worker and a real ``plugin-db api`` process."""
    with sqlite_api(tmp_path_factory.mktemp("api")) as served:
        yield served

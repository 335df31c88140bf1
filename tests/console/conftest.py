"""A stack with a worker and a real ``plugin-db api`` process serving the console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.api import Api, sqlite_api


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with sqlite_api(tmp_path_factory.mktemp("console")) as served:
        yield served

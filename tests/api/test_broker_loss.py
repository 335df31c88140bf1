"""Nothing is lost between the request and the worker.

20 provisions through the API and 20 through the CLI (``plugin-db provision``, run in this
process) are recorded, then Redis is killed and restarted empty before any worker runs. A
worker started afterwards, with no beat, finds the recorded operations (its start-up
reconcile) and completes all 40.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.api import Api
from tests.support.cli import invoke
from tests.support.env import sqlite_stack, unique_id
from tests.support.redis import RedisServer
from tests.support.stack import Stack, write_plugin

COUNT = 20


def queued(server: RedisServer) -> int:
    """Messages waiting on queue plugin-db (a new connection: the server restarts)."""
    return int(redis.Redis.from_url(f"{server.url}/0").llen("plugin-db"))


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[tuple[Stack, Api, RedisServer]]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    stack = sqlite_stack(tmp_path, f"{server.url}/0")
    api = Api(stack)
    api.start()
    yield stack, api, server
    api.stop()
    stack.stop()
    server.stop()
    stack.engine.dispose()


def test_forty_recorded_provisions_survive_a_redis_restart(
    lossy: tuple[Stack, Api, RedisServer],
) -> None:
    stack, api, server = lossy
    via_api = [unique_id("lossapi") for _ in range(COUNT)]
    via_cli = [unique_id("losscli") for _ in range(COUNT)]
    for plugin_id in via_api + via_cli:
        write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite")
    with api.client("plugins:write") as http:
        for plugin_id in via_api:
            answer = http.post(f"/api/plugins/{plugin_id}/provision", json={})
            assert answer.status_code == 202, answer.text
    for plugin_id in via_cli:
        done = invoke(stack, "provision", str(stack.plugins_root / plugin_id))
        assert done.exit_code == 0, done.output
    everything = via_api + via_cli
    assert all([op.state for op in stack.ops(p)] == ["pending"] for p in everything)
    assert queued(server) == 2 * COUNT

    server.stop()  # SIGKILL, no persistence: every message is gone
    server.start()
    assert queued(server) == 0

    stack.start_worker(beat=False)
    stack.wait_until(
        lambda: all([op.state for op in stack.ops(p)] == ["succeeded"] for p in everything),
        timeout=240,
        what="all 40 provisions succeeded",
    )
    assert all(stack.datasource(p).status == "ready" for p in everything)  # type: ignore[union-attr]

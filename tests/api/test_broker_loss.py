"""Nothing is lost between the request and the worker.

20 provisions through the API and 20 through the CLI are recorded, then Redis is killed and
restarted empty before any worker runs. A worker started afterwards, with no beat, finds the
recorded operations (its start-up reconcile) and completes all 40.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from tests.conftest import sqlite_stack, unique_id
from tests.support.api import Api, free_port
from tests.support.stack import ROOT, Stack, write_plugin

COUNT = 20


class RedisServer:
    """A private, non-persistent redis-server that the test may kill."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[tuple[Stack, Api, RedisServer]]:
    server = RedisServer()
    server.start()
    stack = sqlite_stack(tmp_path, server.url)
    api = Api(stack)
    api.start()
    yield stack, api, server
    api.stop()
    stack.stop()
    server.kill()
    stack.engine.dispose()


def cli_provision(stack: Stack, folder: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "worker.cli", "provision", str(folder)],
        env={**os.environ, **stack.env},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


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
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: cli_provision(stack, stack.plugins_root / p), via_cli))
    everything = via_api + via_cli
    assert all([op.state for op in stack.ops(p)] == ["pending"] for p in everything)
    assert redis.Redis.from_url(server.url).llen("plugin-db") == 2 * COUNT

    server.kill()  # no persistence: every message is gone
    server.start()
    assert redis.Redis.from_url(server.url).llen("plugin-db") == 0

    stack.start_worker(beat=False)
    stack.wait_until(
        lambda: all([op.state for op in stack.ops(p)] == ["succeeded"] for p in everything),
        timeout=240,
        what="all 40 provisions succeeded",
    )
    assert all(stack.datasource(p).status == "ready" for p in everything)  # type: ignore[union-attr]

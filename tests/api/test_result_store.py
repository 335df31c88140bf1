"""Producers send without a result store.

A result store configured apart from the broker (``PLUGIN_DB_RESULT_BACKEND``) is down. The
HTTP API and the command line still record and enqueue: they never read task results, so
sending must not depend on the store where workers keep them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.api import Api
from tests.support.cli import invoke
from tests.support.env import sqlite_stack, unique_id
from tests.support.redis import free_port
from tests.support.stack import Stack, write_plugin
from worker.celery_app import create_producer
from worker.settings import Settings


@pytest.fixture
def storeless(tmp_path: Path) -> Iterator[tuple[Stack, Api]]:
    stack = sqlite_stack(tmp_path)
    stack.env["PLUGIN_DB_RESULT_BACKEND"] = f"redis://127.0.0.1:{free_port()}/0"
    api = Api(stack)
    api.start()
    yield stack, api
    api.stop()
    stack.stop()
    stack.engine.dispose()


def test_api_and_cli_enqueue_while_the_result_store_is_down(
    storeless: tuple[Stack, Api],
) -> None:
    """A provision through each producer is accepted and its message reaches the broker."""
    stack, api = storeless
    via_api, via_cli = unique_id("nostoreapi"), unique_id("nostorecli")
    for plugin_id in (via_api, via_cli):
        write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite")
    with api.client("plugins:write") as http:
        answer = http.post(f"/api/plugins/{via_api}/provision", json={})
    assert answer.status_code == 202, answer.text
    done = invoke(stack, "provision", str(stack.plugins_root / via_cli))
    assert done.exit_code == 0, done.output
    broker = redis.Redis.from_url(stack.env["PLUGIN_DB_BROKER_URL"])
    assert broker.llen("plugin-db") == 2


def test_the_producer_app_has_no_result_backend() -> None:
    """The producer's app is the workers' app with its result backend turned off."""
    settings = Settings(
        database_url="sqlite://",
        broker_url="redis://127.0.0.1:1/0",
        result_backend="redis://127.0.0.1:2/0",
    )
    producer = create_producer(settings)
    assert type(producer.backend).__name__ == "DisabledBackend"
    assert producer.conf.broker_url == "redis://127.0.0.1:1/0"
    assert producer.conf.task_default_queue == "plugin-db"

"""An events stack: real worker with beat, fast relay and retries, a connection folder."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import _broker, provider_urls
from tests.events.support import Receiver
from tests.support.stack import Stack, base_env
from worker.logging import configure

FAST = {
    "PLUGIN_DB_RELAY_INTERVAL_SECONDS": "1",
    "PLUGIN_DB_WEBHOOK_TIMEOUT_SECONDS": "2",
    "PLUGIN_DB_WEBHOOK_BACKOFF_BASE": "0.2",
    "PLUGIN_DB_WEBHOOK_BACKOFF_MAX": "1",
    "PLUGIN_DB_RETIRE_CHECK_SECONDS": "1",
    "PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
}


def events_stack(workdir: Path, **extra: str) -> Stack:
    """A stack on SQLite tracking with the event settings above (and ``extra``)."""
    env = base_env(
        workdir,
        _broker(),
        f"sqlite:///{workdir / 'tracking.db'}",
        shared_url=f"sqlite:///{workdir / 'shared.db'}",
        **provider_urls(),
    )
    env.update(FAST)
    env["PLUGIN_DB_CONNECTION_DIR"] = str(workdir / "connections")
    env.update(extra)
    return Stack(env, workdir)


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Build a stack (no worker yet); all are stopped afterwards."""
    made: list[Stack] = []

    def make(**extra: str) -> Stack:
        stack = events_stack(tmp_path / f"s{len(made)}", **extra)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop()
        stack.engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running signed-webhook receiver."""
    rec = Receiver().start()
    yield rec
    rec.stop()


def run_cli(stack: Stack, monkeypatch: pytest.MonkeyPatch, *args: Any, **env: str) -> Any:
    """``plugin-db ARGS`` in-process with the stack's environment (plus ``env``)."""
    from worker.cli import app
    from worker.cli.common import sessions, settings

    configure(json=False, level=logging.WARNING)
    for key, value in {**stack.env, **env}.items():
        monkeypatch.setenv(key, value)
    settings.cache_clear()
    sessions.cache_clear()
    try:
        return CliRunner().invoke(app, [str(a) for a in args])
    finally:
        settings.cache_clear()
        sessions.cache_clear()

"""The event stream on the command line, and the connection file sink."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.events.conftest import run_cli
from tests.events.test_webhooks import sqlite_plugin
from worker.errors import RequestRejected
from worker.webhooks.guard import check_url


def test_events_resume_after_a_position_with_no_gap_and_no_repeat(
    make_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack()
    stack.start_worker()
    plugin_id = sqlite_plugin(stack)
    folder = Path(stack.env["PLUGIN_DB_CONNECTION_DIR"])
    env_file = folder / f"{plugin_id}.env"
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    stack.wait_until(env_file.exists, what="connection file")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text().startswith("PLUGIN_DATABASE_URL=file:")
    assert list(folder.glob(".*")) == []  # no temporary file left behind
    for task in ("plugin_db.rotate_credentials", "plugin_db.teardown"):
        assert stack.run(task, {"plugin_id": plugin_id}).state == "succeeded"
    stack.wait_until(lambda: not env_file.exists(), what="connection file removed on teardown")

    def listed(*args: Any) -> list[dict[str, Any]]:
        result = run_cli(stack, monkeypatch, "events", "--plugin", plugin_id, "--json", *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.splitlines()]

    everything = listed()
    assert [e["type"] for e in everything] == [
        "migration.applied",
        "datasource.ready",
        "operation.succeeded",
        "operation.succeeded",
        "datasource.archived",
        "operation.succeeded",
    ]
    positions = [e["position"] for e in everything]
    assert positions == sorted(set(positions))
    k = positions[2]
    assert listed("--after", str(k)) == everything[3:]
    only = listed("--type", "datasource.archived")
    assert [e["id"] for e in only] == [everything[4]["id"]]


def test_the_address_guard_resolves_and_honours_the_allow_list() -> None:
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://192.168.1.2/", "http://localhost/"):
        with pytest.raises(RequestRejected, match="refused"):
            check_url(url, ())
    for url in ("ftp://example.com/", "http://user:pw@example.com/", "http:///nohost"):
        with pytest.raises(RequestRejected):
            check_url(url, ())
    check_url("http://127.0.0.1:9/", ("127.0.0.0/8",))
    check_url("http://localhost:9/", ("localhost",))
    check_url("http://192.168.1.2/", ("192.168.0.0/16",))
    with pytest.raises(RequestRejected, match="refused"):
        check_url("http://10.0.0.1/", ("192.168.0.0/16",))

"""A third-party driver, for real: the example package under ``examples/driver-example``.

The bootstrap installs it (its entry point registers ``example-sqlite``); a targets file
names it; a real worker provisions and migrates a plugin through it; ``plugin-db info`` and
``plugin-db targets list`` show where the plugin lives.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from providers.registry import available
from tests.support.stack import Stack, base_env, migration, write_plugin

TARGETS = """
[targets.shared]
driver = "shared"
admin_url = "sqlite:///{root}/shared.db"

[targets.files]
driver = "sqlite"
admin_url = "{root}/files"

[targets.example]
driver = "example-sqlite"
admin_url = "{root}/example"
labels = {{ origin = "third-party" }}
"""


@pytest.fixture
def stack(tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    """A stack whose targets file names the example driver, with one worker."""
    if "example-sqlite" not in available():
        pytest.fail("the example driver is not installed; run scripts/bootstrap.sh")
    targets = tmp_path / "targets.toml"
    targets.write_text(TARGETS.format(root=tmp_path))
    env = base_env(tmp_path, redis_url, f"sqlite:///{tmp_path / 'tracking.db'}")
    env["PLUGIN_DB_TARGETS"] = str(targets)
    found = Stack(env, tmp_path)
    found.start_worker(concurrency=1, beat=False)
    yield found
    found.stop()
    found.engine.dispose()


def _cli(stack: Stack, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", *args, "--json"],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_a_plugin_is_provisioned_through_a_target_that_names_the_third_party_driver(
    stack: Stack, tmp_path: Path
) -> None:
    plugin_id = f"tp-{uuid.uuid4().hex[:8]}"
    items = migration("CREATE TABLE items (id INTEGER);", "DROP TABLE items;", "001")
    files = {"001-items.sql": items}
    write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", files)
    op = stack.run("plugin_db.provision", {"plugin_id": plugin_id, "target": "example"})
    assert op.state == "succeeded", op.error
    ds = stack.datasource(plugin_id)
    assert ds is not None and (ds.target, ds.provider) == ("example", "example-sqlite")
    path = tmp_path / "example" / "plugins" / f"{plugin_id}.db"
    with closing(sqlite3.connect(path)) as conn:
        marker = conn.execute("SELECT driver FROM example_driver_marker").fetchall()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert marker == [("example-sqlite",)] and "items" in tables
    info = _cli(stack, "info", plugin_id)
    assert (info["target"], info["driver"]) == ("example", "example-sqlite")
    listed = {row["name"]: row for row in _cli(stack, "targets", "list")}
    assert listed["example"]["driver"] == "example-sqlite"
    assert listed["example"]["modes"] == ["exclusive-sqlite"]
    assert listed["example"]["plugins"] == 1 and listed["files"]["plugins"] == 0
    assert "admin_url" not in listed["example"]


def test_without_a_target_the_first_serving_one_is_used_and_a_wrong_one_is_refused(
    stack: Stack, tmp_path: Path
) -> None:
    plugin_id = f"tp-{uuid.uuid4().hex[:8]}"
    write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", {})
    op = stack.run("plugin_db.provision", {"plugin_id": plugin_id})
    assert op.state == "succeeded", op.error
    ds = stack.datasource(plugin_id)
    assert ds is not None and (ds.target, ds.provider) == ("files", "sqlite")
    assert (tmp_path / "files" / "plugins" / f"{plugin_id}.db").exists()
    other = f"tp-{uuid.uuid4().hex[:8]}"
    write_plugin(stack.plugins_root, other, "exclusive-sqlite", {})
    refused = stack.run("plugin_db.provision", {"plugin_id": other, "target": "shared"})
    assert refused.state == "rejected" and "does not serve mode" in (refused.error or "")
    assert stack.datasource(other) is None

"""``migrate --all`` sends each plugin's migrate to the worker, and loses none without one.

With no worker running, the command cannot see the workers record its requests: before it
exits it records them itself (pending operations, audited, that the reconciler re-sends).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from bench.cli import MANIFEST, PLUGIN, seed
from tests.support.stack import migration

ROOT = Path(__file__).resolve().parents[2]


def test_requests_no_worker_recorded_are_recorded_before_the_command_exits(
    tmp_path: Path,
) -> None:
    """Given a ready plugin with a new file and no worker, `migrate --all` (no --wait)
    leaves one pending, audited operation for it and its message on the broker."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    seed(url, tmp_path / "data")
    folder = tmp_path / "plugins" / PLUGIN
    (folder / "migrations").mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps(MANIFEST))
    (folder / "migrations" / "001-t.sql").write_text(
        migration("CREATE TABLE t (id INTEGER);", "DROP TABLE t;", "001")
    )
    env = {
        "PLUGIN_DB_DATABASE_URL": url,
        "PLUGIN_DB_DATA_DIR": str(tmp_path / "data"),
        "PLUGIN_DB_PLUGINS_ROOT": str(tmp_path / "plugins"),
        "PLUGIN_DB_BROKER_URL": "filesystem://",
        "PATH": "/usr/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "migrate", "--all", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["plugins"]
    assert item["plugin_id"] == PLUGIN and item["state"] == "enqueued"
    with closing(sqlite3.connect(tmp_path / "tracking.db")) as conn:
        (op_id, state) = conn.execute(
            "SELECT id, state FROM lifecycle_operations WHERE request_id = ?",
            [item["request_id"]],
        ).fetchone()
        events = [
            e
            for (e,) in conn.execute(
                "SELECT event FROM audit_events WHERE operation_id = ?", [op_id]
            )
        ]
    assert state == "pending" and events == ["operation_accepted"]
    assert list((tmp_path / "data" / "broker" / "queue").glob("*"))

"""``migrations.entryPoint``: skipped unless enabled; then a confined, audited subprocess.

The worker's lifecycle service runs in this process so each test can set
``enable_entry_points`` (and the timeout) itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.migrations.support import events, in_process, new_plugin, run_in_process, sql, step
from tests.support.plugin_access import secret_payload
from tests.support.stack import Stack, migration
from worker.migrations import entrypoint
from worker.states import Kind

PROBE = """\
import os, sys
import psycopg
url = os.environ["PLUGIN_DATABASE_URL"]
print("ENV", ",".join(sorted(k for k in os.environ if k != "LC_CTYPE")))
print("CWD", os.getcwd())
print("URL", url)
with psycopg.connect(url, autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS from_entry (id INTEGER)")
print("done", file=sys.stderr)
"""


def plugin_with(stack: Stack, mode: str, name: str, body: str) -> tuple[str, Path]:
    files = {"001-a.sql": migration("CREATE TABLE a (id INTEGER);", "DROP TABLE a;", "001")}
    pid, _ = new_plugin(stack, "ep", mode, files)
    folder = stack.plugins_root / pid
    manifest = json.loads((folder / "plugin.json").read_text())
    manifest["sovereign"]["database"]["migrations"] = {
        "directory": "migrations",
        "entryPoint": name,
    }
    (folder / "plugin.json").write_text(json.dumps(manifest))
    (folder / name).write_text(body)
    return pid, folder


def test_disabled_entry_points_are_skipped_and_never_run(light: Stack) -> None:
    pid, folder = plugin_with(light, "exclusive-sqlite", "run.py", "open('ran', 'w')")
    op = run_in_process(in_process(light), Kind.PROVISION, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    record = step(op, "run_entry_point")
    assert (record["status"], record["detail"]) == ("skipped", {"reason": "entry points disabled"})
    assert not (folder / "ran").exists()


def test_an_enabled_entry_point_gets_only_the_url_and_path_and_is_audited(light: Stack) -> None:
    pid, folder = plugin_with(light, "exclusive-postgres", "migrate.py", PROBE)
    service = in_process(light, enable_entry_points=True)
    op = run_in_process(service, Kind.PROVISION, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    assert [s["name"] for s in op.steps][-2:] == ["run_entry_point", "activate"]
    assert step(op, "run_entry_point")["detail"]["exit_code"] == 0
    (event,) = events(light, pid, "migration_entry_point")
    output = event.details["output"]
    assert "ENV PATH,PLUGIN_DATABASE_URL" in output and f"CWD {folder}" in output
    assert "done" in output and ":***@" in output
    payload = secret_payload(light, pid)
    assert payload is not None
    assert all(password not in output for password in payload["slots"].values())
    assert sql(light, pid, "SELECT COUNT(*) FROM from_entry") == [(0,)]
    again = run_in_process(service, Kind.MIGRATE, {"plugin_id": pid})
    assert again.state == "succeeded" and step(again, "run_entry_point")["status"] == "done"
    run_in_process(service, Kind.TEARDOWN, {"plugin_id": pid, "purge": True})


def test_a_failing_entry_point_fails_the_operation_with_its_output(light: Stack) -> None:
    body = "import sys\nprint('working')\nprint('boom: no table', file=sys.stderr)\nsys.exit(3)\n"
    pid, _ = plugin_with(light, "exclusive-sqlite", "run.py", body)
    op = run_in_process(
        in_process(light, enable_entry_points=True), Kind.PROVISION, {"plugin_id": pid}
    )
    assert op.state == "failed"
    assert "entry point run.py exited with 3: boom: no table" in (op.error or "")
    (event,) = events(light, pid, "migration_entry_point")
    assert event.details["exit_code"] == 3 and "working" in event.details["output"]


def test_a_hanging_entry_point_is_killed_at_the_timeout(
    light: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entrypoint, "TIMEOUT_SECONDS", 0.5)
    pid, _ = plugin_with(light, "exclusive-sqlite", "run.py", "import time\ntime.sleep(30)\n")
    op = run_in_process(
        in_process(light, enable_entry_points=True), Kind.PROVISION, {"plugin_id": pid}
    )
    assert op.state == "failed" and "timed out after 0.5s" in (op.error or "")


def test_a_non_python_entry_point_needs_its_executable_bit(light: Stack) -> None:
    pid, folder = plugin_with(light, "exclusive-sqlite", "run.sh", "#!/bin/sh\necho from-shell\n")
    service = in_process(light, enable_entry_points=True)
    op = run_in_process(service, Kind.PROVISION, {"plugin_id": pid})
    assert op.state == "failed" and "is not executable" in (op.error or "")
    os.chmod(folder / "run.sh", 0o755)
    op = run_in_process(service, Kind.MIGRATE, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    assert "from-shell" in events(light, pid, "migration_entry_point")[-1].details["output"]

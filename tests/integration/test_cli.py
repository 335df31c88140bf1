"""The plugin-db command line as an operator runs it: real processes, real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.test_worker_sqlite import NOTES
from tests.support.env import unique_id
from tests.support.stack import Stack, migration, write_plugin
from worker.tracking.db import head_revision

CLI = [sys.executable, "-m", "worker.cli"]


def cli(
    stack: Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``plugin-db ARGS`` with the stack's environment."""
    return subprocess.run(
        [*CLI, *args],
        env={**os.environ, **stack.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def test_enqueue_commands_wait_and_exit_with_the_outcome(stack: Stack) -> None:
    """Enqueueing commands with --wait --json exit 0, 1 or 2 as the contract says."""
    plugin_id = unique_id("cli")
    folder = write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", NOTES)
    done = cli(stack, "provision", str(folder), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    assert as_json(done)["state"] == "succeeded"
    assert [s["name"] for s in as_json(done)["steps"]] == [
        "begin_provision",
        "create_storage",
        "apply_migrations",
        "activate",
    ]
    dry = cli(stack, "migrate", plugin_id, "--target", "001", "--dry-run", "--wait", "--json")
    assert dry.returncode == 0 and as_json(dry)["result"]["sql"][0]["version"] == "002"
    back = cli(stack, "rollback", plugin_id, "002", "--wait", "--json")
    assert back.returncode == 0, back.stdout
    listing = as_json(cli(stack, "migrations", "list", plugin_id, "--json"))
    assert [(m["version"], m["status"]) for m in listing] == [
        ("001", "completed"),
        ("002", "rolled_back"),
    ]
    assert cli(stack, "migrate", plugin_id, "--wait").returncode == 0
    assert cli(stack, "rotate", plugin_id, "--wait").returncode == 0
    assert cli(stack, "teardown", plugin_id, "--wait").returncode == 0
    assert as_json(cli(stack, "info", plugin_id, "--json"))["status"] == "archived"
    assert cli(stack, "restore", plugin_id, "--wait").returncode == 0
    ops = as_json(cli(stack, "ops", "--plugin", plugin_id, "--json"))
    assert len(ops) == 7 and {o["state"] for o in ops} == {"succeeded"}
    one = as_json(cli(stack, "op", str(ops[0]["operation_id"]), "--json"))
    assert one["kind"] == "restore" and one["steps"][0]["name"] == "restore_storage"
    events = [e["event"] for e in as_json(cli(stack, "audit", plugin_id, "--json"))]
    assert events.count("operation_succeeded") == 7


def test_a_failed_operation_exits_1_and_bad_input_exits_2(stack: Stack) -> None:
    """A failing migration exits 1; a manifest error or a missing plugin exits 2."""
    plugin_id = unique_id("clif")
    folder = write_plugin(
        stack.plugins_root,
        plugin_id,
        "exclusive-sqlite",
        {
            "001-bad.sql": migration(
                "CREATE TABLE t (id INTEGER);\nINSERT INTO nope VALUES (1);", "DROP TABLE t;", "001"
            )
        },
    )
    failed = cli(stack, "provision", str(folder), "--wait", "--json")
    assert failed.returncode == 1 and "nope" in as_json(failed)["error"]
    hostile = write_plugin(stack.plugins_root, unique_id("clih"), "exclusive-oracle")
    bad = cli(stack, "provision", str(hostile), "--wait", "--json")
    assert bad.returncode == 2 and "exclusive-oracle" in as_json(bad)["error"]
    assert cli(stack, "info", "no-such-plugin", "--json").returncode == 2
    outside = Path(stack.workdir) / "elsewhere"
    outside.mkdir(exist_ok=True)
    (outside / "plugin.json").write_text(json.dumps({"id": "elsewhere"}))
    assert cli(stack, "provision", str(outside)).returncode == 2


def test_credentials_reveal_is_audited_and_info_never_shows_a_password(stack: Stack) -> None:
    """`connection` (alias `credentials`) prints the full URL, audited; `info` has no secret."""
    plugin_id = unique_id("clic")
    folder = write_plugin(stack.plugins_root, plugin_id, "exclusive-postgres", {})
    assert cli(stack, "provision", str(folder), "--wait").returncode == 0
    info = cli(stack, "info", plugin_id, "--json")
    document = as_json(cli(stack, "credentials", plugin_id, "--json"))
    assert document == as_json(cli(stack, "connection", plugin_id, "--json"))
    revealed = document["url"].split("?", 1)[0]  # libpq has no ?schema=; Prisma needs it
    password = revealed.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert len(password) >= 32 and password not in info.stdout
    assert "connection_read" in [e.event for e in stack.audit(plugin_id)]
    assert password not in json.dumps([e.details for e in stack.audit(plugin_id)])
    import psycopg

    with psycopg.connect(revealed.replace("postgresql://", "postgresql://", 1)) as conn:
        assert conn.execute("SELECT current_user").fetchone() is not None
    cli(stack, "teardown", plugin_id, "--purge", "--wait")


def _never_upgraded(tmp_path: Path) -> dict[str, str]:
    """An environment whose tracking database was never upgraded."""
    return {
        **os.environ,
        "PLUGIN_DB_DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}",
        "PLUGIN_DB_BROKER_URL": "memory://",
        "PLUGIN_DB_DATA_DIR": str(tmp_path),
    }


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end (60 s at most), its output captured."""
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_worker_refuses_an_out_of_date_tracking_database(tmp_path: Path) -> None:
    """A worker on a tracking database that was never upgraded exits and says how to fix it."""
    env = _never_upgraded(tmp_path)
    celery = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker"]
    proc = _run([*celery, "--pool=solo", "-Q", "plugin-db"], env)
    assert proc.returncode != 0
    assert "plugin-db db upgrade" in proc.stderr
    upgraded = _run([*CLI, "db", "upgrade", "--json"], env)
    assert upgraded.returncode == 0 and json.loads(upgraded.stdout)["revision"] == head_revision()


def test_the_api_refuses_an_out_of_date_tracking_database(tmp_path: Path) -> None:
    """``plugin-db api`` on a tracking database that was never upgraded exits 3 and says how
    to fix it, before it listens."""
    proc = _run([*CLI, "api", "--port", "1"], _never_upgraded(tmp_path))
    assert proc.returncode == 3, proc.stderr
    assert "plugin-db db upgrade" in proc.stderr

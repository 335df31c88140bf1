"""Killed workers, redelivery and the attempt budget, with real processes."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.test_worker_sqlite import NOTES
from tests.support.env import unique_id
from tests.support.stack import Stack, write_plugin


@pytest.mark.parametrize(
    ("failpoint", "recorded_before_kill"),
    [
        ("after:create_storage", "begin_provision"),  # provider acted, step not yet recorded
        ("after:apply_migrations", "create_storage"),  # migrations committed, step not recorded
        ("before:activate", "apply_migrations"),
    ],
)
def test_sigkilled_worker_mid_provision_converges_after_restart(
    fresh_stack: Stack, failpoint: str, recorded_before_kill: str
) -> None:
    """Given a worker SIGKILLed at a step boundary, a restarted worker completes it once."""
    stack = fresh_stack
    plugin_id = unique_id("kill")
    write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", NOTES)
    victim = stack.start_worker(extra_env={"PLUGIN_DB_FAILPOINTS": f"{failpoint}=sleep:120"})
    request_id = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
    stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="failpoint reached")
    op = stack.op(request_id)
    assert op is not None and op.state == "running" and op.current_step == recorded_before_kill
    stack.kill(victim, signal.SIGKILL)

    stack.start_worker()
    done = stack.wait(request_id, timeout=60)
    assert done.state == "succeeded", done.error
    assert done.crashes == 1
    data = Path(stack.env["PLUGIN_DB_DATA_DIR"]) / "plugins"
    assert [p.name for p in data.glob(f"{plugin_id}.db")] == [f"{plugin_id}.db"]
    assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
        ("001", "completed"),
        ("002", "completed"),
    ]
    steps = Counter(
        e.details["step"] for e in stack.audit(plugin_id, done.id) if e.event == "step_done"
    )
    assert steps == {
        "begin_provision": 1,
        "create_storage": 1,
        "apply_migrations": 1,
        "activate": 1,
    }
    assert [s["name"] for s in done.steps] == [
        "begin_provision",
        "create_storage",
        "apply_migrations",
        "activate",
    ]


def test_pool_child_killed_every_time_fails_after_the_attempt_budget(fresh_stack: Stack) -> None:
    """A request that kills its pool process every time ends failed instead of looping."""
    stack = fresh_stack
    plugin_id = unique_id("doom")
    write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", NOTES)
    stack.start_worker(
        extra_env={
            "PLUGIN_DB_FAILPOINTS": "before:create_storage=crash",
            "PLUGIN_DB_MAX_ATTEMPTS": "2",
        }
    )
    op = stack.wait(stack.send("plugin_db.provision", {"plugin_id": plugin_id}), timeout=90)
    assert op.state == "failed"
    assert "worker was lost 2 times" in (op.error or "")
    assert [e.event for e in stack.audit(plugin_id, op.id)][-1] == "operation_failed"
    later = unique_id("after")
    write_plugin(stack.plugins_root, later, "exclusive-sqlite", {})
    stack.stop()
    stack.start_worker()
    stack.wait_ready()
    assert stack.run("plugin_db.provision", {"plugin_id": later}, timeout=90).state == "succeeded"


def test_sigterm_warm_shutdown_lets_the_running_operation_finish_or_resume(
    fresh_stack: Stack,
) -> None:
    """SIGTERM during an operation: the operation still ends succeeded (now or after restart)."""
    stack = fresh_stack
    plugin_id = unique_id("term")
    write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", NOTES)
    worker = stack.start_worker(
        extra_env={"PLUGIN_DB_FAILPOINTS": "before:apply_migrations=sleep:2"}
    )
    request_id = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
    stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="failpoint reached")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    stack.start_worker()
    op = stack.wait(request_id, timeout=60)
    assert op.state == "succeeded", op.error
    assert len(stack.migrations(plugin_id)) == 2

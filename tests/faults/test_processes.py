"""Processes dying under the worker: a pool child, the broker, and a worker outliving its lease."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.conftest import MakeStack
from tests.faults.support import (
    RedisServer,
    assert_no_leak,
    harvest,
    login_of,
    pg_expected,
    pg_objects,
    pool_children,
    step_events,
)
from tests.faults.walk import new_plugin
from tests.support.stack import Stack
from worker.states import TERMINAL

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROVISION = ["begin_provision", "create_storage", "apply_migrations", "activate"]


def worker_log(stack: Stack, index: int) -> list[dict[str, object]]:
    events = []
    for line in (
        (Path(stack.workdir) / f"worker-{index}.log").read_text(errors="replace").splitlines()
    ):
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def assert_provisioned_once(stack: Stack, plugin_id: str, request_id: str) -> None:
    op = stack.op(request_id)
    assert op is not None and op.state == "succeeded", op and op.error
    assert [s["name"] for s in op.steps] == PROVISION
    assert Counter(e.split(":", 1)[1] for e in step_events(stack, op.id)) == dict.fromkeys(
        PROVISION, 1
    )
    assert len(stack.ops(plugin_id)) == 1
    assert [m.migration_version for m in stack.migrations(plugin_id)] == ["001", "002"]


def test_pool_child_sigkilled_while_parent_survives_completes_the_operation(
    make_stack: MakeStack,
) -> None:
    """SIGKILL the pool process running a provision; the parent requeues it and it completes."""
    stack = make_stack(PLUGIN_DB_LEASE_SECONDS="6")
    plugin_id = new_plugin(stack, "postgresql", prefix="c")
    worker = stack.start_worker(
        beat=False,
        concurrency=1,
        extra_env={"PLUGIN_DB_FAILPOINTS": "after:create_storage=sleep:2.5"},
    )
    stack.wait_until(lambda: len(pool_children(worker)) == 1, what="one pool process")
    request_id = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
    stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="failpoint reached")
    (child,) = pool_children(worker)  # the one running the task now (a child can be recycled)
    op = stack.op(request_id)
    assert op is not None and op.current_step == "begin_provision"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    done = stack.wait(request_id, timeout=60)
    assert worker.poll() is None, "the worker's main process died with its pool child"
    assert done.state == "succeeded", done.error
    assert done.crashes == 1
    assert_provisioned_once(stack, plugin_id, request_id)
    assert pg_objects(plugin_id) == pg_expected(plugin_id)
    assert "WorkerLostError" in stack.logs() or "Process 'ForkPoolWorker" in stack.logs()


def test_expired_lease_lets_a_second_worker_take_over_and_refuses_the_stale_one(
    make_stack: MakeStack,
) -> None:
    """A worker sleeping past its lease loses the operation: its late writes are refused."""
    stack = make_stack()  # PLUGIN_DB_LEASE_SECONDS=3
    plugin_id = new_plugin(stack, "postgresql", prefix="l")
    slow = stack.start_worker(
        beat=False,
        concurrency=1,
        extra_env={"PLUGIN_DB_FAILPOINTS": "after:create_storage=sleep:15"},
    )
    request_id = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
    stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="slow worker at failpoint")
    op = stack.op(request_id)
    assert op is not None
    stale_owner = op.lease_owner

    stack.start_worker(concurrency=2)  # with beat: its reconciler re-enqueues the expired lease
    done = stack.wait(request_id, timeout=60)
    assert done.state == "succeeded", done.error
    assert done.crashes >= 1

    def refused() -> bool:
        return any(
            e.get("event") == "lease_lost" and e.get("operation_id") == done.id
            for e in worker_log(stack, 0)
        )

    stack.wait_until(refused, timeout=40, what="lease_lost in the slow worker's log")
    assert slow.poll() is None
    time.sleep(0.5)
    after = stack.op(request_id)
    assert after is not None and after.state == "succeeded" and after.version == done.version
    assert after.lease_owner is None and stale_owner is not None
    assert_provisioned_once(stack, plugin_id, request_id)
    assert pg_objects(plugin_id) == pg_expected(plugin_id)
    provider, spec, login = login_of(stack, plugin_id)
    with provider.connect(spec, login) as conn:  # the stored password is the one in force
        assert conn.execute("SELECT current_user").fetchone() == (f"{spec.namespace}_owner",)


def test_broker_restarted_without_persistence_loses_no_accepted_operation(
    make_stack: MakeStack, tmp_path: Path
) -> None:
    """Redis dies and comes back empty; the reconciler finishes every accepted operation.

    Two provisions are running (parked 4 s at a failpoint) and two rotations of the same
    plugins are accepted but waiting for them (a countdown retry, held by the worker and
    unacknowledged in Redis) when the broker is SIGKILLed and restarted with nothing in it.
    Messages that were still queued were never accepted: they are lost, as expected.
    """
    server = RedisServer(tmp_path / "own-redis")
    server.start()
    try:
        stack = make_stack(broker=f"{server.url}/0", PLUGIN_DB_LEASE_SECONDS="8")
        worker = stack.start_worker(
            concurrency=4, extra_env={"PLUGIN_DB_FAILPOINTS": "before:apply_migrations=sleep:4"}
        )
        first = [
            new_plugin(stack, "postgresql", prefix="r"),
            new_plugin(stack, "sqlite", prefix="r"),
        ]
        provisions = [stack.send("plugin_db.provision", {"plugin_id": p}) for p in first]
        stack.wait_until(
            lambda: all(
                (op := stack.op(r)) is not None and op.state == "running" for r in provisions
            ),
            timeout=60,
            what="both provisions running",
        )
        rotations = [stack.send("plugin_db.rotate_credentials", {"plugin_id": p}) for p in first]
        stack.wait_until(
            lambda: (
                all(stack.op(r) is not None for r in rotations)
                and stack.logs().count("retry: Retry in") >= 2
            ),
            timeout=30,
            what="rotations accepted and waiting",
        )
        later = [new_plugin(stack, "sqlite", prefix="r") for _ in range(4)]
        for plugin_id in later:
            stack.send("plugin_db.provision", {"plugin_id": plugin_id})
        assert {stack.op(r).state for r in rotations} == {"pending"}  # type: ignore[union-attr]

        server.stop(signal.SIGKILL)
        time.sleep(1.5)
        server.start()  # empty: no queue, no unacknowledged messages, no results

        plugins = first + later

        def all_done() -> bool:
            return all(op.state in TERMINAL for p in plugins for op in stack.ops(p))

        stack.wait_until(all_done, timeout=120, what="every accepted operation finished")
        assert worker.poll() is None
        final = [op for p in plugins for op in stack.ops(p)]
        assert {op.state for op in final} == {"succeeded"}, [(o.kind, o.error) for o in final]
        assert {stack.op(r).state for r in provisions + rotations} == {"succeeded"}  # type: ignore[union-attr]
        for op in final:
            if op.kind == "provision":
                assert [s["name"] for s in op.steps] == PROVISION
        assert "operations_requeued" in stack.logs()
        assert_no_leak(stack, harvest(stack))
    finally:
        server.stop()

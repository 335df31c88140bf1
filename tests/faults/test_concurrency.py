"""Concurrent requests: one request_id sent 50 times, provision and teardown of a plugin at once."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.conftest import MakeStack
from tests.faults.support import request_id, step_events
from tests.faults.walk import new_plugin
from tests.support.stack import Stack

pytestmark = [pytest.mark.redis]

PROVISION = ["begin_provision", "create_storage", "apply_migrations", "activate"]


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads released together; returns their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("tracking", ["sqlite", "postgresql"])
def test_fifty_concurrent_requests_with_one_request_id_are_one_operation(
    make_stack: MakeStack, tracking: str
) -> None:
    stack = make_stack(tracking=tracking)
    stack.start_worker(concurrency=4)
    plugin_id = new_plugin(stack, "sqlite", prefix="d")
    rid = request_id()
    request = {"plugin_id": plugin_id, "request_id": rid, "requested_by": "dup-test"}

    def send() -> Any:
        return stack.producer.send_task("plugin_db.provision", args=[request], queue="plugin-db")

    results = at_once([send] * 50)
    summaries = [r.get(timeout=120) for r in results]
    assert {s["operation_id"] for s in summaries} == {summaries[0]["operation_id"]}
    assert {s["state"] for s in summaries} == {"succeeded"}
    (op,) = stack.ops(plugin_id)
    assert op.request_id == rid and op.state == "succeeded"
    assert [s["name"] for s in op.steps] == PROVISION
    assert Counter(e.split(":", 1)[1] for e in step_events(stack, op.id)) == dict.fromkeys(
        PROVISION, 1
    )
    accepted = [e for e in stack.audit(plugin_id) if e.event == "operation_accepted"]
    assert len(accepted) == 1
    assert [m.migration_version for m in stack.migrations(plugin_id)] == ["001", "002"]


def _outcome(stack: Stack, plugin_id: str) -> tuple[list[str], str]:
    ops = stack.ops(plugin_id)
    ds = stack.datasource(plugin_id)
    return [f"{op.kind}:{op.state}" for op in ops], ds.status if ds else "absent"


def test_provision_and_teardown_at_once_run_in_acceptance_order(make_stack: MakeStack) -> None:
    """Whichever is accepted first runs first; the final state is the one that order implies."""
    stack = make_stack()
    stack.start_worker(concurrency=4)
    plugins = [new_plugin(stack, "sqlite", prefix="o") for _ in range(10)]
    rids: dict[str, dict[str, str]] = {p: {} for p in plugins}
    calls = []
    for plugin_id in plugins:
        for task in ("plugin_db.provision", "plugin_db.teardown"):
            rid = rids[plugin_id][task] = request_id()
            calls.append(
                lambda t=task, p=plugin_id, r=rid: stack.send(t, {"plugin_id": p, "request_id": r})
            )
    random.shuffle(calls)
    at_once(calls)
    for plugin_id in plugins:
        for rid in rids[plugin_id].values():
            stack.wait(rid, timeout=120)

    orders = Counter()
    for plugin_id in plugins:
        kinds, status = _outcome(stack, plugin_id)
        if kinds == ["provision:succeeded", "teardown:succeeded"]:
            # accepted after the provision: waited for it, then archived the plugin
            assert status == "archived"
            provision, teardown = stack.ops(plugin_id)
            events = stack.audit(plugin_id)
            done = next(e.id for e in events if e.event == "operation_succeeded")
            first_step = next(
                e.id for e in events if e.operation_id == teardown.id and e.event == "step_done"
            )
            assert first_step > done, "the teardown ran before the provision finished"
            assert provision.finished_at is not None and teardown.finished_at is not None
            assert teardown.finished_at >= provision.finished_at
            orders["provision-first"] += 1
        elif sorted(kinds) == ["provision:succeeded", "teardown:rejected"]:
            # the teardown came before any provision was accepted: nothing to tear down
            assert status == "ready"
            teardown = next(op for op in stack.ops(plugin_id) if op.kind == "teardown")
            assert "provision it first" in (teardown.error or "")
            orders["teardown-first"] += 1
        else:
            raise AssertionError(f"{plugin_id}: unexpected outcome {kinds} / {status}")
    assert sum(orders.values()) == len(plugins)

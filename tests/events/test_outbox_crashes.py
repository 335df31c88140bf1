"""SIGKILL between a step's commit and the webhook's delivery, at each boundary."""

from __future__ import annotations

import signal
from collections import defaultdict
from typing import Any

import pytest

from tests.events.support import Receiver
from tests.events.test_webhooks import outbox, register, sqlite_plugin


@pytest.mark.parametrize(
    "failpoint",
    [
        "relay:before",  # the operation committed its events, the relay has not run
        "relay:after_commit",  # relayed (deliveries recorded), no delivery task sent
        "webhook:before_post",  # a delivery is leased, nothing sent
        "webhook:after_post",  # sent and answered, the attempt not recorded
    ],
)
def test_every_event_arrives_after_a_sigkill(
    make_stack: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, failpoint: str
) -> None:
    stack = make_stack()
    register(stack, monkeypatch, receiver)
    victim = stack.start_worker(
        beat=False, extra_env={"PLUGIN_DB_FAILPOINTS": f"{failpoint}=sleep:120"}
    )
    plugin_id = sqlite_plugin(stack)
    request_id = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
    stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="failpoint reached")
    assert stack.wait(request_id).state == "succeeded"  # committed before the kill
    stack.kill(victim, signal.SIGKILL)
    stack.start_worker()

    events = outbox(stack, plugin_id)
    assert [e.type for e in events] == [
        "migration.applied",
        "datasource.ready",
        "operation.succeeded",
    ]
    ids = [e.event_id for e in events]
    stack.wait_until(
        lambda: len(receiver.types(plugin_id)) == len(ids), timeout=90, what="delivery"
    )
    got = receiver.accepted(plugin_id)
    assert list(dict.fromkeys(r.webhook_id for r in got)) == ids  # in order, none invented
    bodies: dict[str, set[str]] = defaultdict(set)
    for r in got:
        bodies[r.webhook_id].add(r.body)
    assert all(len(b) == 1 for b in bodies.values())  # a duplicate is the same message
    if failpoint == "webhook:after_post":
        assert [r.webhook_id for r in got].count(ids[0]) == 2

"""Signed webhooks through a real worker: order, retries with the same id, outages, the guard."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.events.conftest import run_cli
from tests.events.support import Receiver
from tests.support.stack import Stack, migration, write_plugin
from worker.secrets import SecretBox, load
from worker.settings import Settings
from worker.tracking.models import OutboxEvent, WebhookAttempt, WebhookDelivery

NOTES = {
    "001-notes.sql": migration(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY);", "DROP TABLE notes;", "001"
    )
}


def register(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, *events: str
) -> str:
    """``plugin-db webhooks add`` for the receiver; hands it the secret; returns the id."""
    flags = [a for t in events for a in ("--event", t)]
    result = run_cli(stack, monkeypatch, "webhooks", "add", receiver.url, *flags, "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    return str(created["id"])


def passwords(stack: Stack, plugin_id: str) -> set[str]:
    box = SecretBox.from_settings(Settings.from_env(stack.env))
    ds = stack.datasource(plugin_id)
    with stack.sessions() as session:
        payload = load(session, box, ds.secrets_ref if ds else None) or {}
    return set(payload.get("slots", {}).values())


def outbox(stack: Stack, plugin_id: str) -> list[OutboxEvent]:
    with stack.sessions() as session:
        return list(
            session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.plugin_id == plugin_id)
                .order_by(OutboxEvent.id)
            )
        )


def attempts(stack: Stack, event_id: str) -> list[WebhookAttempt]:
    with stack.sessions() as session:
        return list(
            session.scalars(
                select(WebhookAttempt)
                .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
                .where(WebhookDelivery.event_id == event_id)
                .order_by(WebhookAttempt.id)
            )
        )


def sqlite_plugin(stack: Stack) -> str:
    plugin_id = f"wh-{uuid.uuid4().hex[:8]}"
    write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite", NOTES)
    return plugin_id


def test_postgres_lifecycle_arrives_signed_in_order_without_passwords(
    make_stack: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(PLUGIN_DB_RETIRE_CHECK_SECONDS="3600")
    register(stack, monkeypatch, receiver)
    stack.start_worker()
    plugin_id = f"wh-pg-{uuid.uuid4().hex[:6]}"
    write_plugin(
        stack.plugins_root, plugin_id, "exclusive-postgres", NOTES, limits={"connections": 5}
    )
    issued: set[str] = set()
    for task, request in (
        ("plugin_db.provision", {}),
        ("plugin_db.rotate_credentials", {}),
        ("plugin_db.teardown", {"purge": True}),
    ):
        op = stack.run(task, {"plugin_id": plugin_id, **request}, timeout=90)
        assert op.state == "succeeded", op.error
        issued |= passwords(stack, plugin_id)
    expected = [
        "migration.applied",
        "datasource.ready",
        "operation.succeeded",
        "credentials.rotated",
        "operation.succeeded",
        "datasource.purged",
        "operation.succeeded",
    ]
    stack.wait_until(lambda: receiver.types(plugin_id) == expected, what="events in order")
    bodies = [r.body for r in receiver.requests]
    assert all(r.verified for r in receiver.requests)
    assert len(issued) == 2
    for password in issued:
        assert all(password not in body for body in bodies)
    ids = [e.event_id for e in outbox(stack, plugin_id)]
    assert [r.webhook_id for r in receiver.accepted(plugin_id)] == ids
    rotated = next(
        r.event for r in receiver.accepted(plugin_id) if r.event["type"] == "credentials.rotated"
    )
    assert rotated["operation_id"] and rotated["data"]["login"].endswith("_b")


def test_a_500_is_retried_with_the_same_webhook_id(
    make_stack: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack()
    register(stack, monkeypatch, receiver, "datasource.ready")
    receiver.fail_first = 1
    stack.start_worker()
    plugin_id = sqlite_plugin(stack)
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    stack.wait_until(lambda: receiver.types(plugin_id) == ["datasource.ready"], what="retry")
    first, second = receiver.requests[0], receiver.requests[1]
    assert first.status == 500 and second.status == 204
    assert first.webhook_id == second.webhook_id and first.body == second.body
    # the receiver answers before the worker records the attempt
    stack.wait_until(lambda: len(attempts(stack, first.webhook_id)) == 2, what="recorded")
    recorded = attempts(stack, first.webhook_id)
    assert [(a.status_code, a.error) for a in recorded] == [(500, "HTTP 500"), (204, None)]


def test_nothing_is_lost_while_the_receiver_is_down(
    make_stack: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack()
    register(stack, monkeypatch, receiver)
    receiver.stop()
    stack.start_worker()
    plugin_id = sqlite_plugin(stack)
    for task in ("plugin_db.provision", "plugin_db.rotate_credentials", "plugin_db.teardown"):
        assert stack.run(task, {"plugin_id": plugin_id}).state == "succeeded"
    head = outbox(stack, plugin_id)[0].event_id
    stack.wait_until(lambda: len(attempts(stack, head)) >= 3, what="failed attempts")
    assert all(a.status_code is None and a.error for a in attempts(stack, head))
    receiver.start()  # the same port
    ids = [e.event_id for e in outbox(stack, plugin_id)]
    stack.wait_until(lambda: len(receiver.types(plugin_id)) == len(ids), what="catch-up")
    assert list(dict.fromkeys(r.webhook_id for r in receiver.accepted(plugin_id))) == ids


def test_internal_addresses_are_refused_at_registration_and_delivery(
    make_stack: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS="")
    for url in (
        receiver.url,
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
        "http://localhost:1/",
    ):
        result = run_cli(stack, monkeypatch, "webhooks", "add", url, "--json")
        assert result.exit_code == 2, result.output
        assert "PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS" in result.output
    # allowed when registered (e.g. a name that pointed elsewhere), refused when delivering
    endpoint = register_allowed(stack, monkeypatch, receiver)
    stack.start_worker()
    plugin_id = sqlite_plugin(stack)
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    head = outbox(stack, plugin_id)[0].event_id
    stack.wait_until(lambda: len(attempts(stack, head)) >= 2, what="refused attempts")
    assert all("refused" in (a.error or "") for a in attempts(stack, head))
    assert receiver.requests == []
    listed = json.loads(run_cli(stack, monkeypatch, "webhooks", "list", "--json").output)
    assert listed[0]["id"] == endpoint and listed[0]["pending_deliveries"] >= 1


def register_allowed(stack: Stack, monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> str:
    result = run_cli(
        stack,
        monkeypatch,
        "webhooks",
        "add",
        receiver.url,
        "--json",
        PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS="127.0.0.0/8",
    )
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("PLUGIN_DB_WEBHOOK_ALLOWED_HOSTS", "")
    return str(json.loads(result.output)["id"])


def test_an_endpoint_that_keeps_failing_is_disabled_and_reported(
    make_stack: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(PLUGIN_DB_WEBHOOK_DISABLE_AFTER="3")
    endpoint = register(stack, monkeypatch, receiver)
    receiver.stop()
    stack.start_worker()
    plugin_id = sqlite_plugin(stack)
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    stack.wait_until(
        lambda: "webhook_endpoint_disabled" in [e.event for e in stack.audit()], what="disabled"
    )
    head = outbox(stack, plugin_id)[0].event_id
    assert len(attempts(stack, head)) == 3
    report = run_cli(stack, monkeypatch, "doctor", "--json")
    assert report.exit_code == 1
    found = [f for f in json.loads(report.output)["findings"] if f["check"] == "webhook_disabled"]
    assert len(found) == 1 and endpoint in found[0]["message"]
    receiver.start()
    assert run_cli(stack, monkeypatch, "webhooks", "enable", endpoint).exit_code == 0
    ids = [e.event_id for e in outbox(stack, plugin_id)]
    stack.wait_until(lambda: len(receiver.types(plugin_id)) == len(ids), what="resumed")

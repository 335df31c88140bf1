"""The HTTP side: the SSE stream resumed with Last-Event-ID, /api/webhooks, connection ack."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.events.support import Receiver
from tests.events.test_rotation import can_log_in, logins, retirements
from tests.events.test_webhooks import NOTES, outbox, sqlite_plugin
from tests.integration.test_conformance import provider_for
from tests.support.api import Api, served_api
from tests.support.stack import Stack, write_plugin


@pytest.fixture
def api(make_stack: Any) -> Iterator[Api]:
    with served_api(make_stack()) as served:
        yield served


def read_frames(response: httpx.Response, count: int) -> list[tuple[int, dict[str, Any]]]:
    """The first ``count`` events of an open SSE response as (id, event)."""
    frames: list[tuple[int, dict[str, Any]]] = []
    current: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in current:
                frames.append((int(current["id"]), json.loads(current["data"])))
                if len(frames) == count:
                    return frames
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    raise AssertionError(f"stream ended after {len(frames)} events")


def test_sse_resumes_after_last_event_id_with_no_gap_and_no_repeat(api: Api) -> None:
    stack = api.stack
    plugin_id = sqlite_plugin(stack)
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    stack.wait_until(lambda: all(e.seq for e in outbox(stack, plugin_id)), what="relayed")
    with api.client("plugins:read") as http:
        params = {"plugin": plugin_id}
        with http.stream("GET", "/api/events", params=params) as first:
            assert first.headers["content-type"].startswith("text/event-stream")
            seen = read_frames(first, 2)
        k = seen[-1][0]
        for task in ("plugin_db.rotate_credentials", "plugin_db.teardown"):
            assert stack.run(task, {"plugin_id": plugin_id}).state == "succeeded"
        ids = [e.event_id for e in outbox(stack, plugin_id)]
        assert len(ids) == 6
        headers = {"Last-Event-ID": str(k)}
        with http.stream("GET", "/api/events", params=params, headers=headers) as again:
            rest = read_frames(again, len(ids) - 2)
        resumed = [event["id"] for _, event in seen + rest]
        assert resumed == ids  # nothing lost, nothing repeated
        positions = [p for p, _ in seen + rest]
        assert positions == sorted(set(positions)) and positions[2] > k
        only = http.get(
            "/api/events", params={**params, "type": "datasource.archived", "follow": "false"}
        )
        assert only.status_code == 200 and only.text.count("event: datasource.archived") == 1
        bad = http.get("/api/events", headers={"Last-Event-ID": "x"}, params={"follow": "false"})
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_webhook_routes_need_admin_and_show_the_secret_once(api: Api) -> None:
    receiver = Receiver().start()
    try:
        with api.client("admin") as http:
            created = http.post(
                "/api/webhooks", json={"url": receiver.url, "events": ["datasource.ready"]}
            )
            assert created.status_code == 201, created.text
            body = created.json()
            receiver.secret = body["secret"]
            assert body["secret"].startswith("whsec_") and body["events"] == ["datasource.ready"]
            listed = http.get("/api/webhooks").json()
            assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
            assert body["secret"] not in http.get("/api/webhooks").text
            tested = http.post(f"/api/webhooks/{body['id']}/test").json()
            assert tested["ok"] and receiver.requests[0].verified
            assert receiver.requests[0].event["type"] == "webhook.test"
            refused = http.post("/api/webhooks", json={"url": "http://10.0.0.1/x"})
            assert refused.status_code == 422 and "ALLOWED_HOSTS" in refused.text
            assert http.delete(f"/api/webhooks/{body['id']}").status_code == 204
            assert http.delete(f"/api/webhooks/{body['id']}").status_code == 404
        with api.client("plugins:write") as http:
            assert http.get("/api/webhooks").status_code == 403
    finally:
        receiver.stop()


def test_connection_ack_over_http_retires_the_old_login(api: Api) -> None:
    stack: Stack = api.stack
    plugin_id = f"ack-{uuid.uuid4().hex[:6]}"
    write_plugin(
        stack.plugins_root, plugin_id, "exclusive-postgres", NOTES, limits={"connections": 5}
    )
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}, 90).state == "succeeded"
    old = logins(stack, plugin_id)["a"]
    provider, spec = provider_for(stack, plugin_id)
    with closing(provider.connect(spec, old)):  # in use: no retirement by the session check
        assert (
            stack.run("plugin_db.rotate_credentials", {"plugin_id": plugin_id}, 90).state
            == "succeeded"
        )
        new = logins(stack, plugin_id)["b"]
        generation = stack.datasource(plugin_id).generation
        with api.client("connections:read") as http:
            path = f"/api/plugins/{plugin_id}/connection/ack"
            too_new = http.post(path, json={"generation": generation + 5})
            assert too_new.status_code == 422, too_new.text
            assert (
                http.post(
                    "/api/plugins/nobody-here/connection/ack", json={"generation": 1}
                ).status_code
                == 404
            )
            done = http.post(path, json={"generation": generation})
            assert done.status_code == 202, done.text
            assert done.json()["retiring"] == [retirements(stack, plugin_id)[0].id]
        stack.wait_until(lambda: not can_log_in(stack, plugin_id, old), what="old login refused")
        assert can_log_in(stack, plugin_id, new)
    assert (
        stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True}).state
        == "succeeded"
    )

"""Console access: sign-in, the session cookie, CSRF, scopes; no secret in any page."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.conftest import unique_id
from tests.support.api import Api
from tests.support.stack import migration, write_plugin
from worker.events.relay import relay
from worker.secrets import SecretBox, load
from worker.settings import Settings
from worker.tracking.models import LifecycleOperation

BROKEN = {"001-broken.sql": migration("INSERT INTO missing_table VALUES (1);", "SELECT 1;", "001")}
PAGES = (
    "/console",
    "/console/targets",
    "/console/operations",
    "/console/operations/stream?after=0&follow=false",
)


def signed_in(console: Api, *scopes: str) -> httpx.Client:
    client = httpx.Client(base_url=console.url, timeout=10)
    answer = client.post("/console/login", data={"token": console.token(*scopes)})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "the page has no CSRF field"
    return match[1]


@pytest.mark.parametrize("path", [*PAGES[:3], "/console/plugins/anything"])
def test_without_a_session_every_page_redirects_to_sign_in(console: Api, path: str) -> None:
    answer = httpx.get(f"{console.url}{path}", timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=")


def test_a_forged_cookie_is_no_session(console: Api) -> None:
    answer = httpx.get(
        f"{console.url}/console", cookies={"plugin_db_console": "e30=.00ff"}, timeout=10
    )
    assert answer.status_code == 303


def test_a_bad_token_is_refused_and_the_cookie_is_httponly_strict(console: Api) -> None:
    bad = httpx.post(f"{console.url}/console/login", data={"token": "pdb_nope_nope"}, timeout=10)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    token = console.token("plugins:read")
    good = httpx.post(f"{console.url}/console/login", data={"token": token}, timeout=10)
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert token not in cookie


def failed_operation(console: Api) -> int:
    plugin_id = unique_id("cf")
    write_plugin(console.stack.plugins_root, plugin_id, "exclusive-sqlite", BROKEN)
    op = console.stack.run("plugin_db.provision", {"plugin_id": plugin_id})
    assert op.state == "failed"
    return op.id


def test_a_forged_csrf_token_is_refused(console: Api) -> None:
    op_id = failed_operation(console)
    client = signed_in(console, "plugins:read", "plugins:write")
    answer = client.post(f"/console/operations/{op_id}/retry", data={"csrf": "0" * 64})
    assert answer.status_code == 403
    missing = client.post(f"/console/operations/{op_id}/retry", data={})
    assert missing.status_code == 403
    with console.stack.sessions() as session:
        assert session.get(LifecycleOperation, op_id).state == "failed"
    assert (
        console.stack.op_by_id(op_id).state == "failed"
        if hasattr(console.stack, "op_by_id")
        else True
    )


def test_retry_needs_plugins_write(console: Api) -> None:
    op_id = failed_operation(console)
    reader = signed_in(console, "plugins:read")
    csrf = csrf_of(reader.get("/console").text)
    answer = reader.post(f"/console/operations/{op_id}/retry", data={"csrf": csrf})
    assert answer.status_code == 403 and "plugins:write" in answer.text


def test_pages_never_contain_a_token_or_password(console: Api) -> None:
    plugin_id = unique_id("cp")
    write_plugin(console.stack.plugins_root, plugin_id, "exclusive-postgres", {})
    assert console.stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    for task in ("plugin_db.snapshot", "plugin_db.rotate_credentials"):
        assert console.stack.run(task, {"plugin_id": plugin_id}).state == "succeeded"
    token = console.token("plugins:read")
    client = httpx.Client(base_url=console.url, timeout=10)
    client.post("/console/login", data={"token": token})
    html = "".join(client.get(p).text for p in [*PAGES, f"/console/plugins/{plugin_id}"])
    assert plugin_id in html and 'id="snapshots"' in html and "old login retiring" in html
    assert token not in html
    ds = console.stack.datasource(plugin_id)
    with console.stack.sessions() as session:
        payload = load(
            session, SecretBox.from_settings(Settings.from_env(console.stack.env)), ds.secrets_ref
        )
    for password in payload["slots"].values():
        assert password not in html


def frames(text: str) -> list[tuple[int, dict[str, Any]]]:
    """(id, data) of each SSE frame that carries an event."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "id" in fields:
            found.append((int(fields["id"]), json.loads(fields["data"])))
    return found


def test_the_live_stream_needs_a_session_and_resumes_after_last_event_id(console: Api) -> None:
    stream = "/console/operations/stream?follow=false"
    assert httpx.get(f"{console.url}{stream}&after=0", timeout=10).status_code == 401
    plugin_id = unique_id("cs")
    write_plugin(console.stack.plugins_root, plugin_id, "exclusive-sqlite", {})
    assert console.stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    settings = Settings.from_env(console.stack.env)
    relay(console.stack.sessions, settings, SecretBox.from_settings(settings))
    client = signed_in(console, "plugins:read")
    answer = client.get(f"{stream}&after=0")
    assert answer.headers["content-type"].startswith("text/event-stream")
    every = frames(answer.text)
    ids = [n for n, _ in every]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    mine = [data for _, data in every if data["plugin_id"] == plugin_id]
    assert {"datasource.ready", "operation.succeeded"} <= {data["type"] for data in mine}
    assert plugin_id in every[-1][1]["rows"] and "rows" not in every[0][1]
    resumed = frames(client.get(stream, headers={"Last-Event-ID": str(ids[-2])}).text)
    assert [n for n, _ in resumed] == ids[-1:]
    assert frames(client.get(stream).text) == []  # no position: from the head on

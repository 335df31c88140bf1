"""Idempotency under concurrency, and hostile input that must change nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import unique_id
from tests.support.api import Api
from tests.support.stack import write_plugin
from worker.tracking.models import LifecycleOperation, PluginDatasource


def counts(api: Api) -> tuple[int, int]:
    """(operations, datasources) in the tracking database."""
    with api.stack.sessions() as session:
        ops = session.scalar(select(func.count()).select_from(LifecycleOperation))
        dss = session.scalar(select(func.count()).select_from(PluginDatasource))
    return int(ops or 0), int(dss or 0)


def test_twenty_concurrent_requests_with_one_key_make_one_operation(api: Api) -> None:
    """All 20 answers name the same operation; exactly one row exists and it succeeds."""
    plugin_id = unique_id("idem")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-sqlite")
    headers = {
        "Authorization": f"Bearer {api.token('plugins:write')}",
        "Idempotency-Key": f"same-{plugin_id}",
    }

    def post(_: int) -> httpx.Response:
        return httpx.post(
            f"{api.url}/api/plugins/{plugin_id}/provision", headers=headers, json={}, timeout=60
        )

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))
    assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
    assert len({a.json()["operation_id"] for a in answers}) == 1
    assert len(api.stack.ops(plugin_id)) == 1
    assert api.wait_op(answers[0].json()["operation_id"])["state"] == "succeeded"


HOSTILE_IDS = [
    "../../etc",
    "a" * 41,
    "Upper",
    "pg-catalog",
    "x;drop",
    "%00",
    "a%2F..%2Fb",
    "ünï",
    "-lead",
]


@pytest.mark.parametrize("plugin_id", HOSTILE_IDS)
@pytest.mark.parametrize("action", ["provision", "rotate", "connection"])
def test_hostile_plugin_ids_get_4xx_and_create_nothing(
    api: Api, plugin_id: str, action: str
) -> None:
    """Path traversal, reserved, too long, non-ASCII: 4xx problem documents, no row."""
    before = counts(api)
    scope = "connections:read" if action == "connection" else "plugins:write"
    with api.client(scope) as http:
        if action == "connection":
            answer = http.get(f"/api/plugins/{plugin_id}/connection")
        else:
            answer = http.post(f"/api/plugins/{plugin_id}/{action}", json={})
    assert 400 <= answer.status_code < 500, answer.text
    if answer.status_code != 404:  # a traversal may leave the route (plain 404)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert counts(api) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"manifest": {"id": "' + b"x" * (2 * 1024 * 1024) + b'"}}',
        b"[" * 100_000,
        b'{"manifest": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"\xff\xfe not json",
    ],
    ids=["2MiB", "deep-array", "deep-manifest", "not-json"],
)
def test_oversized_and_malformed_bodies_get_4xx_and_create_nothing(api: Api, body: bytes) -> None:
    """413 above 1 MiB, 422 for what does not parse; nothing recorded."""
    plugin_id = unique_id("big")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-sqlite")
    before = counts(api)
    with api.client("plugins:write") as http:
        answer = http.post(
            f"/api/plugins/{plugin_id}/provision",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code in {400, 413, 422}, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert counts(api) == before


def test_a_streamed_body_over_the_limit_is_refused(api: Api) -> None:
    """Without Content-Length (chunked) the limit holds too."""
    plugin_id = unique_id("chunk")
    before = counts(api)

    def chunks() -> object:
        for _ in range(40):
            yield b" " * 65536

    with api.client("plugins:write") as http:
        answer = http.post(
            f"/api/plugins/{plugin_id}/provision",
            content=chunks(),  # type: ignore[arg-type]
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413 and counts(api) == before

"""The auth matrix: every route x {no token, wrong scope, right scope}; tokens from the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.support.api import Api
from tests.support.cli import invoke
from worker.api.app import create_app, routers
from worker.settings import Settings
from worker.tokens import SCOPES

PARAMS = {
    "pluginId": "nobody-here",
    "operationId": "1",
    "migrationId": "1",
    "endpointId": "ep_0",
}
QUERY = {"/api/events": "?follow=false"}  # the stream would otherwise never end


def required_scope(route: APIRoute) -> str | None:
    """The scope the route's auth dependency checks (None for public routes)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        scope = getattr(dep.call, "scope", None)
        if scope is not None:
            return str(scope)
        pending.extend(dep.dependencies)
    return None


def cases() -> list[tuple[str, str, str | None]]:
    out = []
    for route in (r for router in routers() for r in router.routes):
        if isinstance(route, APIRoute) and route.include_in_schema:
            path = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], route.path)
            for method in sorted(route.methods):
                out.append((method, path + QUERY.get(path, ""), required_scope(route)))
    return out


@pytest.fixture(scope="module")
def client(api: Api) -> Iterator[TestClient]:
    with TestClient(create_app(Settings.from_env(api.stack.env))) as http:
        yield http


def test_every_api_route_requires_a_scope() -> None:
    """Only the service routes are public (the console signs in with a session of its own,
    see tests/console)."""
    public = {
        path for _, path, scope in cases() if scope is None and not path.startswith("/console")
    }
    assert public == {"/healthz", "/readyz", "/metrics"}


@pytest.mark.parametrize(("method", "path", "scope"), [c for c in cases() if c[2]])
def test_route_answers_401_403_and_lets_the_right_scope_through(
    api: Api, client: TestClient, method: str, path: str, scope: str
) -> None:
    """No token: 401 with a challenge; another scope: 403; the right one (or admin): not 401/403."""
    body = {} if method in {"POST", "PUT"} else None
    none = client.request(method, path, json=body)
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    bad = client.request(method, path, json=body, headers={"Authorization": "Bearer pdb_x_y"})
    assert bad.status_code == 401
    wrong = next(s for s in SCOPES if s not in {scope, "admin"})
    denied = client.request(method, path, json=body, headers=auth(api, wrong))
    assert denied.status_code == 403 and scope in denied.json()["detail"]
    for allowed in (scope, "admin"):
        answer = client.request(method, path, json=body, headers=auth(api, allowed))
        assert answer.status_code not in {401, 403, 500}, answer.text


def auth(api: Api, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(scope)}"}


def test_tokens_created_listed_and_revoked_from_the_cli(api: Api) -> None:
    """The token is printed once, stored as a hash, and 401 after revoke (``plugin-db tokens``
    in process; the Prisma suite creates its token with the real command)."""
    made = invoke(api.stack, "tokens", "create", "ci-bot", "--scope", "plugins:read", "--json")
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert created["name"] == "ci-bot" and created["scopes"] == ["plugins:read"]
    token = created["token"]
    with api.stack.engine.connect() as conn:
        dump = json.dumps(
            [list(map(str, r)) for r in conn.exec_driver_sql("SELECT * FROM api_tokens")]
        )
    assert token not in dump
    listed = json.loads(invoke(api.stack, "tokens", "list", "--json").stdout)
    assert token not in json.dumps(listed) and "ci-bot" in [t["name"] for t in listed]
    headers = {"Authorization": f"Bearer {token}"}
    with api.client() as http:
        assert http.get("/api/operations/1", headers=headers).status_code in {200, 404}
        assert invoke(api.stack, "tokens", "revoke", "ci-bot").exit_code == 0
        assert http.get("/api/operations/1", headers=headers).status_code == 401
    assert invoke(api.stack, "tokens", "create", "x", "--scope", "root").exit_code == 2


def test_a_revoked_token_is_refused_by_the_connection_route_at_once(api: Api) -> None:
    """The route remembers tokens it verified, yet a revoked one gets 401 on the next read."""
    made = invoke(api.stack, "tokens", "create", "rt-bot", "--scope", "connections:read", "--json")
    assert made.exit_code == 0, made.output
    headers = {"Authorization": f"Bearer {json.loads(made.stdout)['token']}"}
    path = "/api/plugins/nobody-here/connection"
    with api.client() as http:
        assert http.get(path, headers=headers).status_code == 404  # verified (and remembered)
        assert http.get(path, headers=headers).status_code == 404
        assert invoke(api.stack, "tokens", "revoke", "rt-bot").exit_code == 0
        refused = http.get(path, headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith(
            "Bearer"
        )

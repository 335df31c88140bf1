"""The platform's install flow over HTTP: provision, wait, fetch the connection, use it."""

from __future__ import annotations

import json

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.support.api import Api
from tests.support.env import unique_id
from tests.support.stack import write_plugin


def provision(api: Api, plugin_id: str, key: str | None = None) -> dict[str, object]:
    headers = {"Idempotency-Key": key} if key else {}
    with api.client("plugins:write") as http:
        answer = http.post(f"/api/plugins/{plugin_id}/provision", json={}, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"] == f"/api/operations/{answer.json()['operation_id']}"
    return dict(answer.json())


def connection(api: Api, plugin_id: str) -> dict[str, object]:
    with api.client("connections:read") as http:
        answer = http.get(f"/api/plugins/{plugin_id}/connection")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_postgres_connection_is_prisma_ready_audited_and_changes_generation_on_rotate(
    api: Api,
) -> None:
    """provision -> connection (?schema=, works, ETag/304) -> rotate -> new generation."""
    plugin_id = unique_id("apipg")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-postgres")
    op = api.wait_op(int(provision(api, plugin_id)["operation_id"]))
    assert op["state"] == "succeeded", op
    doc = connection(api, plugin_id)
    url = make_url(str(doc["url"]))
    assert url.drivername == "postgresql" and url.query["schema"] == doc["schema"]
    assert doc["env"] == {"PLUGIN_DATABASE_URL": doc["url"]} and doc["generation"] == 1
    assert doc["username"] == url.username and doc["database"] == url.database
    dsn = url.difference_update_query(["schema"]).render_as_string(hide_password=False)
    with psycopg.connect(dsn, options=f"-c search_path={doc['schema']}") as conn:
        conn.execute("CREATE TABLE t (id int)")
    with api.client("connections:read") as http:
        first = http.get(f"/api/plugins/{plugin_id}/connection")
        again = http.get(
            f"/api/plugins/{plugin_id}/connection", headers={"If-None-Match": first.headers["ETag"]}
        )
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]
    with api.client("plugins:write") as http:
        rotated = http.post(f"/api/plugins/{plugin_id}/rotate").json()
    assert api.wait_op(rotated["operation_id"])["state"] == "succeeded"
    fresh = connection(api, plugin_id)
    assert fresh["generation"] == 2 and fresh["url"] != doc["url"]
    with api.client("connections:read") as http:
        stale = http.get(
            f"/api/plugins/{plugin_id}/connection", headers={"If-None-Match": first.headers["ETag"]}
        )
    assert stale.status_code == 200
    reads = [e for e in api.stack.audit(plugin_id) if e.event == "connection_read"]
    assert len(reads) == 5 and {e.actor for e in reads} == {"t-connections_read"}
    accepted = [e for e in api.stack.audit(plugin_id) if e.event == "operation_succeeded"]
    assert {e.actor for e in accepted} == {"t-plugins_write"}


def test_mysql_and_sqlite_connections(api: Api) -> None:
    """mysql://user:pass@host:port/db connects; SQLite is file:/abs/path.db."""
    my_id, lite_id = unique_id("apimy"), unique_id("apilite")
    write_plugin(api.stack.plugins_root, my_id, "exclusive-mysql")
    write_plugin(api.stack.plugins_root, lite_id, "exclusive-sqlite")
    for plugin_id in (my_id, lite_id):
        assert api.wait_op(int(provision(api, plugin_id)["operation_id"]))["state"] == "succeeded"
    my = connection(api, my_id)
    url = make_url(str(my["url"]))
    assert url.drivername == "mysql" and my["database"] == url.database and my["schema"] is None
    with (
        pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=url.database,
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("CREATE TABLE t (id int)")
    lite = connection(api, lite_id)
    assert str(lite["url"]).startswith("file:/") and str(lite["url"]).endswith(".db")
    assert lite["username"] is None


def test_same_idempotency_key_gives_the_same_operation(api: Api) -> None:
    """A replayed key answers the first operation; the key on another plugin is a conflict."""
    plugin_id = unique_id("apiidem")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-sqlite")
    key = f"key-{plugin_id}"
    first, second = provision(api, plugin_id, key), provision(api, plugin_id, key)
    assert first["operation_id"] == second["operation_id"]
    other = unique_id("apiidem")
    write_plugin(api.stack.plugins_root, other, "exclusive-sqlite")
    with api.client("plugins:write") as http:
        clash = http.post(f"/api/plugins/{other}/provision", headers={"Idempotency-Key": key})
    assert clash.status_code == 409
    assert clash.headers["content-type"].startswith("application/problem+json")
    assert clash.json()["field"] == "Idempotency-Key"
    assert len(api.stack.ops(plugin_id)) == 1 and api.stack.ops(other) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"manifest": {"id": "x"}}, "manifest.id"),
        ({"nope": 1}, "nope"),
    ],
)
def test_bad_input_is_a_problem_document_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    """4xx, application/problem+json with the field; nothing recorded."""
    plugin_id = unique_id("apibad")
    with api.client("plugins:write") as http:
        answer = http.post(f"/api/plugins/{plugin_id}/provision", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 422 and problem["field"] == field, problem
    assert api.stack.ops(plugin_id) == [] and api.stack.datasource(plugin_id) is None


def test_connection_of_unknown_plugin_is_404_and_cli_connection_matches(api: Api) -> None:
    """404 problem for an unknown plugin; ``plugin-db connection --json`` gives the same doc."""
    with api.client("connections:read") as http:
        missing = http.get("/api/plugins/nobody-here/connection")
    assert missing.status_code == 404 and missing.json()["field"] == "pluginId"
    plugin_id = unique_id("apicli")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-sqlite")
    assert api.wait_op(int(provision(api, plugin_id)["operation_id"]))["state"] == "succeeded"
    import os
    import subprocess
    import sys

    from tests.support.stack import ROOT

    out = subprocess.run(
        [sys.executable, "-m", "worker.cli", "connection", plugin_id, "--json"],
        env={**os.environ, **api.stack.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == connection(api, plugin_id)

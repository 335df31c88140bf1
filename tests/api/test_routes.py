"""The read routes (plugins, audit, doctor) and the registry routes, end to end over HTTP."""

from __future__ import annotations

from typing import Any

from tests.conftest import unique_id
from tests.schema.examples import document, field, table
from tests.support.api import Api
from tests.support.stack import migration, write_plugin


def provisioned(api: Api, prefix: str, migrations: dict[str, str] | None = None) -> str:
    plugin_id = unique_id(prefix)
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-sqlite", migrations)
    with api.client("plugins:write") as http:
        op = http.post(f"/api/plugins/{plugin_id}/provision", json={}).json()
    assert api.wait_op(op["operation_id"])["state"] == "succeeded"
    return plugin_id


def test_plugins_listing_is_filtered_and_paginated_and_has_no_secret(api: Api) -> None:
    ids = sorted(provisioned(api, "list") for _ in range(3))
    seen: list[str] = []
    cursor: str | None = None
    with api.client("plugins:read") as http:
        while True:
            params: dict[str, Any] = {"limit": 2, "status": "ready", "provider": "sqlite"}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/api/plugins", params=params).json()
            seen += [p["plugin_id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        one = http.get(f"/api/plugins/{ids[0]}").json()
        assert http.get("/api/plugins", params={"status": "nope"}).status_code == 422
    assert set(ids) <= set(seen) and seen == sorted(seen) and len(seen) == len(set(seen))
    assert one["status"] == "ready" and one["generation"] == 1 and "password" not in str(one)


def test_audit_trail_is_cursor_paginated_oldest_first(api: Api) -> None:
    plugin_id = provisioned(api, "audit")
    events: list[dict[str, Any]] = []
    cursor = None
    with api.client("plugins:read") as http:
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = http.get(f"/api/plugins/{plugin_id}/audit", params=params).json()
            events += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == len(api.stack.audit(plugin_id))
    assert events[-1]["event"] == "operation_succeeded" and events[-1]["actor"] == "t-plugins_write"


def test_doctor_over_http(api: Api) -> None:
    plugin_id = provisioned(api, "doc")
    with api.client("plugins:read") as http:
        report = http.get("/api/doctor", params={"plugin": plugin_id}).json()
        assert http.get("/api/doctor", params={"plugin": "nobody-here"}).status_code == 404
    assert report["plugins_checked"] == 1 and report["errors"] == 0


def schema_doc(plugin_id: str, version: str = "1.0.0") -> dict[str, Any]:
    ns = plugin_id.replace("-", "_")
    notes = table(ns, f"{ns}_note", [field("title", "String", True)])
    return document(plugin_id, [notes], version=version)


def test_registry_routes(api: Api) -> None:
    """validate, register (POST), show, update (PUT), history, conflicts, rollback, delete."""
    plugin_id = provisioned(
        api,
        "reg",
        {"001_init.sql": migration("CREATE TABLE t1 (id INTEGER);", "DROP TABLE t1;", "001")},
    )
    base = f"/api/extensions/{plugin_id}"
    with api.client("plugins:read") as read, api.client("plugins:write") as write:
        valid = read.post(f"{base}/schema/validate", json=schema_doc(plugin_id))
        assert valid.status_code == 200 and valid.json()["valid"] is True
        bad = read.post(f"{base}/schema/validate", json={**schema_doc(plugin_id), "tables": 3})
        assert bad.status_code == 422 and bad.json()["field"]
        assert read.get(f"{base}/schema").status_code == 404
        assert write.put(f"{base}/schema", json=schema_doc(plugin_id)).status_code == 404
        op = write.post(f"{base}/schema", json=schema_doc(plugin_id)).json()
        assert api.wait_op(op["operation_id"])["state"] == "succeeded"
        shown = read.get(f"{base}/schema").json()
        assert shown["live"] is True and shown["version"] == "1.0.0"
        assert write.post(f"{base}/schema", json=schema_doc(plugin_id)).status_code == 409
        op = write.put(f"{base}/schema", json=schema_doc(plugin_id, "1.1.0")).json()
        assert api.wait_op(op["operation_id"])["state"] == "succeeded"
        history = read.get(f"{base}/migrations").json()
        versions = [m["version"] for m in history]
        assert "001" in versions and all(m["status"] == "completed" for m in history)
        assert read.get("/api/extensions/conflicts").json()["conflicts"] == []
        executed = write.post(f"{base}/migrations/execute", json={}).json()
        assert api.wait_op(executed["operation_id"])["state"] == "succeeded"
        assert write.post(f"{base}/migrations/999/rollback").status_code == 404
        rolled = write.post(f"{base}/migrations/001/rollback").json()
        assert api.wait_op(rolled["operation_id"])["state"] in {"succeeded", "failed"}
        gone = write.delete(f"{base}/schema").json()
        assert api.wait_op(gone["operation_id"])["state"] == "succeeded"
        assert read.get(f"{base}/schema").json()["live"] is False

"""A snapshot on demand over HTTP: an operation whose result names the snapshot."""

from __future__ import annotations

from tests.conftest import unique_id
from tests.support.api import Api
from tests.support.stack import write_plugin


def test_post_snapshots_takes_one(api: Api) -> None:
    plugin_id = unique_id("apisnap")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-sqlite")
    with api.client("plugins:write") as http:
        created = http.post(f"/api/plugins/{plugin_id}/provision", json={}).json()
    assert api.wait_op(created["operation_id"])["state"] == "succeeded"
    with api.client("plugins:read") as http:
        refused = http.post(f"/api/plugins/{plugin_id}/snapshots")
    assert refused.status_code == 403
    with api.client("plugins:write") as http:
        answer = http.post(f"/api/plugins/{plugin_id}/snapshots", headers={"Idempotency-Key": "s1"})
    assert answer.status_code == 202, answer.text
    op = api.wait_op(answer.json()["operation_id"])
    assert op["state"] == "succeeded" and op["kind"] == "snapshot"
    (taken,) = [s for s in op["steps"] if s["name"] == "take_snapshot"]
    assert taken["detail"]["snapshot_id"] >= 1

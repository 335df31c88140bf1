"""No secret leaks: the issued password and every token, grepped for where they must not be."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.conftest import unique_id
from tests.support.api import Api
from tests.support.stack import write_plugin
from worker.tracking.models import AuditEvent


def test_passwords_and_tokens_stay_out_of_logs_problems_metrics_and_audit(api: Api) -> None:
    plugin_id = unique_id("leak")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-postgres")
    with api.client("plugins:write") as http:
        op = http.post(f"/api/plugins/{plugin_id}/provision", json={}).json()
    assert api.wait_op(op["operation_id"])["state"] == "succeeded"
    with api.client("connections:read") as http:
        password = make_url(http.get(f"/api/plugins/{plugin_id}/connection").json()["url"]).password
    assert password and len(password) >= 32
    secrets = [password, *api.tokens.values()]

    problems = []
    with api.client("connections:read") as http:  # right token, wrong scope: 403
        problems.append(http.post(f"/api/plugins/{plugin_id}/rotate", json={}))
        problems.append(http.get("/api/plugins/nobody-here/connection"))
        problems.append(http.get("/api/operations/0"))
    for token in secrets:  # a secret where a token or an id belongs
        problems.append(
            api.client().get("/api/operations/1", headers={"Authorization": f"Bearer {token}x"})
        )
        problems.append(
            api.client("plugins:write").post(
                f"/api/plugins/{plugin_id}/migrate", json={"target": token}
            )
        )
    assert all(p.status_code >= 400 for p in problems)
    metrics = api.client().get("/metrics").text
    assert "plugin_db_api_requests" in metrics
    with api.stack.sessions() as session:
        audit = json.dumps(
            [
                [e.event, e.actor, e.details]
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            ],
            default=str,
        )
    places = {
        "api log": api.logs(),
        "worker log": api.stack.logs(),
        "problem documents": "\n".join(p.text for p in problems),
        "metrics": metrics,
        "audit rows": audit,
    }
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in the {where}"
    assert "connection_read" in audit and "t-connections_read" in audit

"""The API's /metrics serves the fleet's series next to its own request metrics."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Api, sqlite_api
from tests.support.env import unique_id
from tests.support.stack import migration, write_plugin

MIGRATIONS = {
    "001-a.sql": migration("CREATE TABLE a (id INTEGER PRIMARY KEY);", "DROP TABLE a;", "001")
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with sqlite_api(tmp_path_factory.mktemp("api-metrics"), beat=False) as served:
        yield served


def test_metrics_include_the_fleet_and_never_a_token(api: Api) -> None:
    plugin_id = unique_id("am")
    write_plugin(api.stack.plugins_root, plugin_id, "exclusive-sqlite", MIGRATIONS)
    assert api.stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    token = api.token("plugins:read")
    httpx.get(f"{api.url}/api/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    ready = [
        v
        for (n, ls), v in samples.items()
        if n == "plugin_db_plugins" and ("status", "ready") in ls
    ]
    assert ready and ready[0] >= 1
    assert samples[("plugin_db_tracking_up", ())] == 1
    assert any(n == "plugin_db_api_requests_total" for n, _ in samples)
    assert token not in text and plugin_id not in text

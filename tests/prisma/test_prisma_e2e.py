"""A real Prisma 7 client on databases this worker made, through the real API and worker.

The platform provisions two plugins over HTTP (token from ``plugin-db tokens create``) and
registers each one's declarative schema as its authors wrote it (a real worker does the work);
``plugin-db schema export --format prisma --plugin`` gives the schema Prisma generates a client
from, and the plugin's runtime starts that client on ``GET /api/plugins/{id}/connection``: rows
written and read in its own tables; another plugin's table, with the same login, refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import unique_id
from tests.prisma.support import PrismaProject, cli, repo_path
from tests.support.api import Api
from tests.support.node import toolchain
from tests.support.seed import seed_doc
from tests.support.stack import write_plugin

DENIED = {
    "exclusive-postgres": "permission denied",
    "exclusive-mysql": "denied",
    "exclusive-sqlite": "no such table",
}


def install(
    api: Api, http: httpx.Client, mode: str, purge: list[str]
) -> tuple[str, dict[str, Any]]:
    """Provision and register the authored schema over HTTP (a real worker runs both)."""
    plugin_id = unique_id("pz")
    purge.append(plugin_id)
    write_plugin(api.stack.plugins_root, plugin_id, mode)
    answer = http.post(f"/api/plugins/{plugin_id}/provision", json={})
    assert answer.status_code == 202, answer.text
    op = api.wait_op(answer.json()["operation_id"])
    assert op["state"] == "succeeded", op
    answer = http.post(f"/api/extensions/{plugin_id}/schema", json=seed_doc(plugin_id))
    assert answer.status_code == 202, answer.text
    registered = api.wait_op(answer.json()["operation_id"], timeout=120)
    assert registered["state"] == "succeeded", registered
    connection = http.get(f"/api/plugins/{plugin_id}/connection")
    assert connection.status_code == 200, connection.text
    return plugin_id, connection.json()


def qualified(doc: dict[str, Any], table: str) -> str:
    """``table`` of the plugin whose connection document is ``doc``, with its schema/database."""
    if doc["provider"] == "postgresql":
        return f'"{doc["schema"]}"."{table}"'
    if doc["provider"] == "mysql":
        return f"`{doc['database']}`.`{table}`"
    return table


@pytest.mark.parametrize("mode", ["exclusive-postgres", "exclusive-mysql", "exclusive-sqlite"])
def test_prisma_client_reads_and_writes_its_own_tables_only(
    api: Api,
    http: httpx.Client,
    mode: str,
    tmp_path: Path,
    purge_after: list[str],
) -> None:
    node = toolchain()
    if mode == "exclusive-sqlite" and node.sqlite_error:
        pytest.fail(f"@prisma/adapter-better-sqlite3 cannot run: {node.sqlite_error}")
    plugin_id, doc = install(api, http, mode, purge_after)
    other_id, other = install(api, http, mode, purge_after)
    assert doc["env"]["PLUGIN_DATABASE_URL"] == doc["url"]
    exported = cli(
        api.stack,
        "schema",
        "export",
        "--format",
        "prisma",
        "--plugin",
        plugin_id,
        "--output",
        "./generated",
    )
    assert exported.returncode == 0, exported.stderr
    assert "model CustomReport {" in exported.stdout

    project = PrismaProject(tmp_path / "plugin", node)
    client = project.generate(exported.stdout)
    other_table = qualified(other, f"{other_id.replace('-', '_')}_custom_report")
    env = {"PLUGIN_CONNECTION": json.dumps(doc), "OTHER_TABLE": other_table}
    first = project.tsx(repo_path("tests", "prisma", "roundtrip.mts"), str(client), env=env)
    assert first["title"] == "Quarterly" and first["status"] == "PUBLISHED"
    assert first["pageCount"] == 3 and first["drafts"] == 0
    assert first["comments"] == [[1, "first"], [2, "second"]]
    assert first["other"].startswith("denied:") and DENIED[mode] in first["other"], first["other"]
    env["REPORT_TITLE"] = "Yearly"
    again = project.tsx(repo_path("tests", "prisma", "roundtrip.mts"), str(client), env=env)
    assert again["comments"] == [[3, "first"], [4, "second"]] and again["id"] != first["id"]
    assert again["title"] == "Yearly" and again["drafts"] == 0

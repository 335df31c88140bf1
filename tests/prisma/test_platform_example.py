"""``examples/platform-node``: a Node.js platform installs a plugin with fetch and Prisma."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import unique_id
from tests.prisma.support import PrismaProject, cli, repo_path
from tests.support.api import Api
from tests.support.node import Toolchain
from tests.support.seed import seed_doc

EXAMPLE = repo_path("examples", "platform-node")


def test_install_flow_provisions_waits_connects_and_uses_prisma(
    api: Api, token: str, node: Toolchain, tmp_path: Path, purge_after: list[str]
) -> None:
    """install.mts: provision, wait, register the schema, fetch the connection, Prisma."""
    plugin_id = unique_id("ex")
    purge_after.append(plugin_id)
    document = tmp_path / "schema.json"
    document.write_text(json.dumps(seed_doc(plugin_id)))
    exported = cli(
        api.stack, "schema", "export", "--format", "prisma", "--file", str(document),
        "--plugin", plugin_id, "--dialect", "postgresql", "--output", "./generated",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    project = PrismaProject(tmp_path / "plugin", node)
    client = project.generate(exported.stdout)
    env = {"PLUGIN_DB_API": api.url, "PLUGIN_DB_TOKEN": token}
    done = project.run(
        [
            str(node.bin / "tsx"),
            str(EXAMPLE / "install.mts"),
            plugin_id,
            str(EXAMPLE / "plugin.json"),
            str(EXAMPLE / "custom-reports.schema.json"),
            str(client),
        ],
        env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    steps = {line["step"]: line for line in map(json.loads, done.stdout.splitlines())}
    assert steps["provisioned"]["state"] == "succeeded"
    assert steps["schema"]["state"] == "succeeded"
    assert steps["connection"] == {"step": "connection", "provider": "postgresql", "generation": 1}
    assert steps["prisma"] == {
        "step": "prisma",
        "title": f"Installed {plugin_id}",
        "status": "DRAFT",
    }
    assert token not in api.logs()

"""Every plugin folder under examples/ is provisioned, migrated and (when it declares one) has
its declarative schema registered by a real worker, in dependency order."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from tests.conftest import sqlite_stack
from tests.support.stack import Stack
from worker.tracking.models import ExtensionSchema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The platform's own tables that examples relate to (in the real platform, Prisma makes them).
PLATFORM_CORE = (
    "CREATE TABLE users (id VARCHAR(36) PRIMARY KEY, email VARCHAR(255))",
    "CREATE TABLE work_orders (id VARCHAR(36) PRIMARY KEY, title VARCHAR(255))",
)


def manifest(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "plugin.json").read_text()))


def plugin_folders() -> list[Path]:
    """Example plugins (folders with a plugin.json), each after the examples it depends on."""
    folders = {
        p.parent.name: p.parent
        for p in sorted(EXAMPLES.glob("*/plugin.json"))
        if manifest(p.parent)["id"] == p.parent.name  # not a platform example's sample plugin
    }
    ordered: list[Path] = []

    def visit(name: str) -> None:
        folder = folders[name]
        if folder in ordered:
            return
        for dep in manifest(folder)["sovereign"]["database"].get("dependencies", []):
            if dep in folders:
                visit(dep)
        ordered.append(folder)

    for name in folders:
        visit(name)
    return ordered


@pytest.fixture(scope="module")
def examples_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = sqlite_stack(tmp_path_factory.mktemp("examples"))
    shared = create_engine(stack.env["PLUGIN_DB_SHARED_URL"])
    with shared.begin() as conn:
        for statement in PLATFORM_CORE:
            conn.execute(text(statement))
    shared.dispose()
    for folder in plugin_folders():
        shutil.copytree(folder, stack.plugins_root / folder.name)
    stack.start_worker(beat=False)
    yield stack
    stack.stop()


def test_there_are_at_least_five_example_plugins() -> None:
    assert len(plugin_folders()) >= 5
    described = [manifest(f).get("description") for f in plugin_folders()]
    assert sum(bool(d) for d in described) >= 5


@pytest.mark.parametrize("folder", plugin_folders(), ids=lambda f: f.name)
def test_example_is_provisioned_migrated_and_registered(
    examples_stack: Stack, folder: Path
) -> None:
    stack, plugin_id = examples_stack, manifest(folder)["id"]
    op = stack.run("plugin_db.provision", {"plugin_id": plugin_id}, timeout=120)
    assert op.state == "succeeded", op.error
    files = sorted(p.name for p in (folder / "migrations").glob("*.sql"))
    rows = stack.migrations(plugin_id)
    assert len(rows) == len(files) and all(r.status == "completed" for r in rows)
    again = stack.run("plugin_db.migrate", {"plugin_id": plugin_id}, timeout=120)
    assert again.state == "succeeded", again.error
    declared = manifest(folder)["sovereign"]["database"].get("declarativeSchema")
    if declared:
        document = json.loads((folder / declared).read_text())
        request = {"plugin_id": plugin_id, "schema": document, "requested_by": "examples"}
        registered = stack.run("plugin_db.register_schema", request, timeout=120)
        assert registered.state == "succeeded", registered.error
        with stack.sessions() as session:
            row = session.scalars(select(ExtensionSchema).filter_by(plugin_id=plugin_id)).one()
        assert row.status == "active" and row.version == document["version"]
    ds = stack.datasource(plugin_id)
    assert ds is not None and ds.status == "ready"

"""``migrate --all``'s survey of the ready plugins: up to date, refused, dependencies.

The survey reads each plugin's folder without the ORM; it must agree with the migrate gate
(``worker.migrations.gate``) that the worker's fast path uses, in one process or forked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import migration, write_plugin
from worker.manifest import load_manifest_bytes
from worker.migrations import fleet, gate
from worker.migrations.files import FILES_CHECKSUM


def _fleet(root: Path) -> list[tuple[str, Any, Any]]:
    """Four plugins: up to date, changed since its last migrate, a bad manifest, a dependant."""
    files = {"001-t.sql": migration("CREATE TABLE t (id INTEGER);", "DROP TABLE t;", "001")}
    rows = []
    for plugin_id in ("fs-current", "fs-changed", "fs-broken", "fs-needs"):
        extra = {"dependencies": ["core", "fs-current"]} if plugin_id == "fs-needs" else {}
        folder = write_plugin(root, plugin_id, "exclusive-sqlite", files, **extra)
        manifest = load_manifest_bytes((folder / "plugin.json").read_bytes())
        stored = {FILES_CHECKSUM: gate.files_checksum(root, manifest)}
        rows.append((plugin_id, stored, json.loads((folder / "plugin.json").read_text())))
    (root / "fs-changed" / "migrations" / "002-u.sql").write_text(
        migration("CREATE TABLE u (id INTEGER);", "DROP TABLE u;", "002")
    )
    (root / "fs-broken" / "plugin.json").write_text('{"id": "fs-broken", "sovereign": 3}')
    return rows


@pytest.mark.parametrize("processes", [1, 2])
def test_the_survey_agrees_with_the_migrate_gate(
    tmp_path: Path, processes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given four plugins, each is found as the gate finds it, in one process or two."""
    monkeypatch.setattr(fleet, "SURVEY_PROCESSES_FROM", 0)
    found = {s.plugin_id: s for s in fleet.survey(tmp_path, _fleet(tmp_path), processes)}
    assert list(found) == ["fs-current", "fs-changed", "fs-broken", "fs-needs"]
    assert [p for p, s in found.items() if s.current] == ["fs-current", "fs-needs"]
    assert (
        found["fs-broken"].refused is not None and "invalid manifest" in found["fs-broken"].refused
    )
    assert found["fs-needs"].deps == ["fs-current"] and found["fs-current"].deps == []
    for plugin_id in ("fs-current", "fs-changed"):
        manifest = load_manifest_bytes((tmp_path / plugin_id / "plugin.json").read_bytes())
        assert fleet.files_checksum(tmp_path, manifest) == gate.files_checksum(tmp_path, manifest)


def test_a_plugin_id_leaving_the_root_is_refused(tmp_path: Path) -> None:
    """Given a tracked id that is no plugin id, the survey refuses it and reads nothing."""
    (found,) = fleet.survey(tmp_path, [("../etc", {}, None)], 1)
    assert found.refused is not None and not found.current

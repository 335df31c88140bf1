"""Migration drift with and without the files checksum a successful migrate stored."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.stack import migration, write_plugin
from worker.errors import MigrationFileError
from worker.manifest import load_manifest_bytes
from worker.migrations.files import load_dir, set_checksum
from worker.ops import drift
from worker.ops.findings import Check

FILES = {
    "001-a.sql": migration("CREATE TABLE a (id INTEGER);", "DROP TABLE a;", "001"),
    "002-b.sql": migration("CREATE TABLE b (id INTEGER);", "DROP TABLE b;", "002"),
}


def _plugin(root: Path) -> tuple[Path, object, str]:
    """A plugin folder with two files; its manifest and the checksum a migrate would store."""
    folder = write_plugin(root, "drifty", "exclusive-sqlite", FILES)
    manifest = load_manifest_bytes((folder / "plugin.json").read_bytes())
    return folder, manifest, set_checksum(load_dir(folder / "migrations", folder))


def _rows(folder: Path, *versions: str) -> list[SimpleNamespace]:
    """Completed ledger rows for ``versions`` with the files' checksums (or a made-up one)."""
    files = {f.version: f.checksum for f in load_dir(folder / "migrations", folder)}
    return [
        SimpleNamespace(migration_version=v, status="completed", checksum=files.get(v, "0" * 64))
        for v in versions
    ]


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise MigrationFileError("parsed", ["the stored checksum should have spared this"])

    monkeypatch.setattr(drift, "load_dir", refuse)


def test_files_matching_the_stored_checksum_are_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given files that still match the stored checksum, nothing is parsed and nothing found."""
    folder, manifest, stored = _plugin(tmp_path)
    rows = _rows(folder, "001", "002")
    _no_parsing(monkeypatch)
    findings, applied = drift.migration_findings("drifty", manifest, folder, rows, stored)  # type: ignore[arg-type]
    assert (findings, applied) == ([], 2)


def test_an_applied_version_without_its_file_is_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a ledger row whose file is gone before the checksum was stored, the unparsed
    comparison still reports it, exactly as the parsed one does."""
    folder, manifest, stored = _plugin(tmp_path)
    rows = _rows(folder, "000", "001", "002")
    parsed, _ = drift.migration_findings("drifty", manifest, folder, rows)  # type: ignore[arg-type]
    _no_parsing(monkeypatch)
    unparsed, _ = drift.migration_findings("drifty", manifest, folder, rows, stored)  # type: ignore[arg-type]
    assert [f.message for f in unparsed] == [f.message for f in parsed]
    assert [f.check for f in unparsed] == [Check.MIGRATION_DRIFT]
    assert "000" in unparsed[0].message


def test_files_changed_since_the_stored_checksum_are_parsed(tmp_path: Path) -> None:
    """Given an applied file edited, then a new file that is not UTF-8, the stored checksum no
    longer matches: the files are parsed and each problem is reported."""
    folder, manifest, stored = _plugin(tmp_path)
    rows = _rows(folder, "001", "002")
    (folder / "migrations" / "001-a.sql").write_text(
        migration("CREATE TABLE a (id BIGINT);", "DROP TABLE a;", "001")
    )
    findings, _ = drift.migration_findings("drifty", manifest, folder, rows, stored)  # type: ignore[arg-type]
    assert [f.check for f in findings] == [Check.MIGRATION_DRIFT]
    assert "001-a.sql" in findings[0].message and "changed since they ran" in findings[0].message
    (folder / "migrations" / "003-c.sql").write_bytes(b"-- UP\n\xff\xfe not UTF-8\n")
    findings, _ = drift.migration_findings("drifty", manifest, folder, rows, stored)  # type: ignore[arg-type]
    assert [f.check for f in findings] == [Check.MIGRATION_DRIFT]
    assert "cannot be read" in findings[0].message

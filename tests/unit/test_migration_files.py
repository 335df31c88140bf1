"""Migration file format (seeds/002), checksums and plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import DriftDetected, MigrationFileError
from worker.migrations.files import checksum, load_dir, parse, set_checksum
from worker.migrations.ledger import LedgerEntry
from worker.migrations.plan import plan

SEED_STYLE = """-- =====================================================
-- MIGRATION: Create hamid_cart table
-- =====================================================
-- Plugin: Cart Hamid (109c940f-5d33-472c-b7df-c48e68c35696)
-- Version: 20250129_143000
-- Description: Create hamid_cart table for tracking cart page visits
-- =====================================================

-- UP Migration
CREATE TABLE IF NOT EXISTS hamid_cart (id TEXT PRIMARY KEY, note TEXT DEFAULT 'a;b');

CREATE INDEX IF NOT EXISTS idx_hamid_cart_user ON hamid_cart(id);

-- =====================================================
-- DOWN Migration (Rollback)
-- =====================================================
DROP TABLE IF EXISTS hamid_cart CASCADE;
"""


def test_the_seed_format_parses_into_header_up_and_down() -> None:
    """The example of seeds/002 yields its version, name, description and both parts."""
    m = parse("20250129_143000_create_hamid_cart_table.sql", SEED_STYLE)
    assert (m.version, m.name) == ("20250129_143000", "Create hamid_cart table")
    assert m.description == "Create hamid_cart table for tracking cart page visits"
    assert m.up_sql.startswith("CREATE TABLE") and "idx_hamid_cart_user" in m.up_sql
    assert "Plugin:" not in m.up_sql and "=====" not in m.up_sql
    assert m.down_sql == "DROP TABLE IF EXISTS hamid_cart CASCADE;"


def test_checksum_ignores_line_endings_and_bom() -> None:
    """CRLF and a BOM do not change the checksum; a real edit does."""
    assert checksum("\ufeff" + SEED_STYLE.replace("\n", "\r\n")) == checksum(SEED_STYLE)
    assert checksum(SEED_STYLE.replace("a;b", "a;c")) != checksum(SEED_STYLE)


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("create.sql", "SELECT 1;", "VERSION-NAME.sql"),
        ("001-x.sql", "-- Version: 002\n-- UP\nSELECT 1;", "header says Version"),
        ("001-x.sql", "-- UP Migration\n\n-- DOWN Migration\nDROP TABLE a;", "UP part has no SQL"),
        ("001-x.sql", "-- UP\nCREATE TABLE t (\x00 int);", "remove the NUL"),
    ],
)
def test_malformed_files_are_refused_with_the_file_named(name: str, text: str, needle: str) -> None:
    """Bad names, mismatched versions, empty UP parts and NULs name the file and the fix."""
    with pytest.raises(MigrationFileError) as info:
        parse(name, text)
    assert name in str(info.value) and needle in str(info.value)


def test_load_dir_sorts_by_version_and_refuses_duplicates(tmp_path: Path) -> None:
    """Files sort by version string; two files with one version are refused."""
    (tmp_path / "002-b.sql").write_text("-- UP\nSELECT 2;")
    (tmp_path / "001-a.sql").write_text("-- UP\nSELECT 1;")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [f.version for f in load_dir(tmp_path, tmp_path)] == ["001", "002"]
    (tmp_path / "002-c.sql").write_text("-- UP\nSELECT 3;")
    with pytest.raises(MigrationFileError, match="also used by"):
        load_dir(tmp_path, tmp_path)


def test_load_dir_refuses_a_folder_outside_the_plugin(tmp_path: Path) -> None:
    """A migrations folder that leaves the plugin folder is refused."""
    with pytest.raises(MigrationFileError, match="outside the plugin"):
        load_dir(tmp_path / ".." / "elsewhere", tmp_path)


def _files() -> list:  # type: ignore[type-arg]
    return [
        parse("001-a.sql", "-- UP\nCREATE TABLE a (x INT);\n-- DOWN\nDROP TABLE a;"),
        parse("002-b.sql", "-- UP\nCREATE TABLE b (x INT);\n-- DOWN\nDROP TABLE b;"),
        parse("003-c.sql", "-- UP\nCREATE TABLE c (x INT);"),
    ]


def _applied(*versions: str) -> dict[str, LedgerEntry]:
    files = {f.version: f for f in _files()}
    return {v: LedgerEntry(v, files[v].checksum, 1, True) for v in versions}


def test_plan_up_down_target_force_and_drift() -> None:
    """Pending versions run up in order; a lower target runs DOWN parts in reverse."""
    files = _files()
    assert [(p.direction, p.file.version) for p in plan(files, {})] == [
        ("up", "001"),
        ("up", "002"),
        ("up", "003"),
    ]
    assert [p.file.version for p in plan(files, _applied("001"), target="002")] == ["002"]
    assert [(p.direction, p.file.version) for p in plan(files, _applied("001", "002"), "0")] == [
        ("down", "002"),
        ("down", "001"),
    ]
    assert [
        (p.direction, p.file.version) for p in plan(files, _applied("001"), "001", force=True)
    ] == [("up", "001")]
    drifted = {"001": LedgerEntry("001", "0" * 64, 1, True)}
    with pytest.raises(DriftDetected, match=r"001-a\.sql"):
        plan(files, drifted)
    with pytest.raises(MigrationFileError, match="has no DOWN part"):
        plan(files, _applied("001", "002", "003"), target="002")
    with pytest.raises(MigrationFileError, match="no migration file has version"):
        plan(files, {}, target="999")


def test_set_checksum_changes_with_any_file() -> None:
    """The checksum over a plugin's whole set changes when one file changes."""
    files = _files()
    assert set_checksum(files) == set_checksum(list(files))
    assert set_checksum(files[:2]) != set_checksum(files)

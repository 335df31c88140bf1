"""The manifest contract: valid examples pass, every error names its field and the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.targets import Targets
from worker.errors import ManifestError
from worker.manifest import Mode, load_manifest_bytes, parse_manifest
from worker.settings import Settings

DEEP: Any = 1
for _ in range(40):
    DEEP = [DEEP]

PAPERTRAIL: dict[str, Any] = {
    "id": "papertrail",
    "name": "Papertrail",
    "version": "1.4.0",
    "sovereign": {
        "schemaVersion": 2,
        "database": {
            "mode": "exclusive-postgres",
            "provider": "postgresql",
            "schema": "papertrail",
            "migrations": {"directory": "migrations"},
            "declarativeSchema": "schema.json",
            "limits": {"storageMb": 1024, "connections": 5},
            "dependencies": ["core"],
            "featureFlag": "ff-plugin-papertrail-enabled",
            "rotation": {"intervalDays": 30},
        },
    },
}


def test_the_contract_example_parses() -> None:
    """The example of CONTRACT.md section 1 is valid."""
    manifest = parse_manifest(PAPERTRAIL)
    db = manifest.database
    settings = Settings(postgres_admin_url="postgresql://admin@db/plugins")
    served_by = Targets.from_settings(settings).choose(db.mode.value).driver
    assert db.mode is Mode.EXCLUSIVE_POSTGRES and served_by == "postgresql"
    assert db.limits.storage_mb == 1024 and db.limits.connections == 5
    assert db.rotation is not None and db.rotation.interval_days == 30


def test_database_block_absent_means_shared() -> None:
    """`mode` defaults to shared when `database` is absent."""
    assert parse_manifest({"id": "tiny"}).database.mode is Mode.SHARED


def _problems(data: object) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    return info.value.problems


def _db(**database: Any) -> dict[str, Any]:
    return {"id": "demo", "sovereign": {"database": database}}


@pytest.mark.parametrize(
    ("data", "field", "hint"),
    [
        ({"id": 'x"; DROP ROLE postgres;--'}, "id", "pattern"),
        ({"id": "../../etc"}, "id", "pattern"),
        ({"id": "Upper"}, "id", "lower-case"),
        ({"id": "a" * 41}, "id", "1-40"),
        ({"id": "postgres"}, "id", "reserved"),
        ({"id": "pg-stat"}, "id", "reserved"),
        ({"id": "information_schema"}, "id", "pattern"),
        (_db(mode="dedicated"), "sovereign.database.mode", "use one of"),
        (_db(mode="exclusive-sqlite", provider="postgresql"), "sovereign.database", "agree"),
        (_db(mode="shared", colour="blue"), "sovereign.database.colour", "unknown key"),
        (
            _db(migrations={"directory": "/etc"}),
            "sovereign.database.migrations.directory",
            "relative",
        ),
        (
            _db(migrations={"directory": "a/../../b"}),
            "sovereign.database.migrations.directory",
            "..",
        ),
        (_db(limits={"storageMb": 0}), "sovereign.database.limits.storageMb", "greater"),
        (_db(limits={"connections": "five"}), "sovereign.database.limits.connections", "integer"),
        (_db(rotation={"intervalDays": 0}), "sovereign.database.rotation.intervalDays", "greater"),
        (_db(dependencies=["Bad Id"]), "sovereign.database.dependencies.0", "pattern"),
        (_db(schema="other"), "schema", "namespace"),
        (_db(featureFlag="has space"), "sovereign.database.featureFlag", "pattern"),
    ],
)
def test_errors_name_the_field_and_the_fix(data: Any, field: str, hint: str) -> None:
    """Each invalid manifest is refused with a problem that starts with its field."""
    problems = _problems(data)
    assert any(p.startswith(field) or field in p for p in problems), problems
    assert any(hint in p for p in problems), problems


def test_every_problem_is_reported_not_only_the_first() -> None:
    """Several bad fields give several problems."""
    problems = _problems({"id": "BAD", "sovereign": {"database": {"mode": "x", "oops": 1}}})
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b" " * (256 * 1024 + 1), "larger than"),
        (json.dumps({"id": "a", "x": DEEP}).encode(), "nested deeper"),
    ],
)
def test_bytes_that_are_not_a_manifest(raw: bytes, needle: str) -> None:
    """Invalid encodings, syntax, shapes, sizes and depths are refused clearly."""
    with pytest.raises(ManifestError) as info:
        load_manifest_bytes(raw)
    assert needle in str(info.value)

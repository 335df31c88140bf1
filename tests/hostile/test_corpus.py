"""A corpus of hostile requests through a real worker: rejected, audited, nothing created.

The stack tracks on PostgreSQL (which refuses NUL and invalid UTF-8 in text, unlike SQLite),
so a rejection that cannot be stored would show up here as a task that crashed unaudited.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults.support import (
    RedisServer,
    mysql_objects,
    pg_objects,
    protocol2_body,
    push_raw,
    raw_message,
)
from tests.hostile.conftest import pg_tracked_stack
from tests.support.stack import Stack, migration, write_plugin
from worker.naming import PLUGIN_ID_RE
from worker.tracking.models import PluginDatasource, PluginSecret

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def corpus(private_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("corpus")
    with pg_tracked_stack(f"{private_redis.url}/15", workdir) as stack:
        yield stack


def pid() -> str:
    return f"h-{uuid.uuid4().hex[:8]}"


def manifest(plugin_id: str, **database: Any) -> dict[str, Any]:
    return {
        "id": plugin_id,
        "name": "Hostile",
        "version": "1.0.0",
        "sovereign": {"schemaVersion": 2, "database": {"mode": "exclusive-postgres", **database}},
    }


@dataclass
class Case:
    """One hostile request; ``prepare`` may write the plugin folder first."""

    name: str
    request: Callable[[str], dict[str, Any]]
    needle: str
    task: str = "plugin_db.provision"
    prepare: Callable[[Stack, str], None] | None = None
    valid_id: bool = True


def _folder(raw: bytes) -> Callable[[Stack, str], None]:
    def prepare(stack: Stack, plugin_id: str) -> None:
        folder = write_plugin(stack.plugins_root, plugin_id, "exclusive-postgres")
        (folder / "plugin.json").write_bytes(raw.replace(b"@ID@", plugin_id.encode()))

    return prepare


def _symlinked_migrations(stack: Stack, plugin_id: str) -> None:
    folder = write_plugin(stack.plugins_root, plugin_id, "exclusive-postgres")
    (folder / "migrations").rmdir()
    os.symlink("/etc", folder / "migrations")


def _non_utf8_migration_name(stack: Stack, plugin_id: str) -> None:
    folder = write_plugin(stack.plugins_root, plugin_id, "exclusive-postgres")
    name = os.fsencode(folder / "migrations") + b"/001-\xff\xfe.sql"
    with open(name, "wb") as handle:
        handle.write(migration("SELECT 1;", "SELECT 1;", "001").encode())


def _non_utf8_migration_body(stack: Stack, plugin_id: str) -> None:
    folder = write_plugin(stack.plugins_root, plugin_id, "exclusive-postgres")
    (folder / "migrations" / "001-x.sql").write_bytes(b"-- UP\nCREATE TABLE \xff (id int);\n")


def _nul_migration(stack: Stack, plugin_id: str) -> None:
    write_plugin(
        stack.plugins_root,
        plugin_id,
        "exclusive-postgres",
        {
            "001-nul.sql": migration(
                f"CREATE TABLE {plugin_id.replace('-', '_')}_t (\x00 int);", "", "001"
            )
        },
    )


def _migration_outside_namespace(stack: Stack, plugin_id: str) -> None:
    write_plugin(
        stack.plugins_root,
        plugin_id,
        "exclusive-postgres",
        {
            "001-evil.sql": migration(
                "DROP TABLE public.users;\nCREATE ROLE evil SUPERUSER;", "", "001"
            )
        },
    )


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": [value]}
    return value


WRONG_TYPES: dict[str, Any] = {
    "plugin_id": 42,
    "request_id": 7,
    "requested_by": ["admin"],
    "manifest": "plugin.json",
}
WRONG_MANIFEST_TYPES: dict[str, Any] = {
    "mode": 1,
    "provider": ["postgresql"],
    "schema": 5,
    "migrations": "migrations",
    "declarativeSchema": 1,
    "limits": [1],
    "dependencies": "core",
    "featureFlag": False,
    "rotation": 30,
}

CASES: list[Case] = [
    # SQL injection in ids and names
    Case(
        "sqli-id-role",
        lambda _: {"plugin_id": 'x"; DROP ROLE postgres;--'},
        "is not a plugin id",
        valid_id=False,
    ),
    Case(
        "sqli-id-quote",
        lambda _: {"plugin_id": "a'; DROP TABLE users;--"},
        "is not a plugin id",
        valid_id=False,
    ),
    Case(
        "sqli-id-backtick",
        lambda _: {"plugin_id": "r`); DROP DATABASE shared;--"},
        "is not a plugin id",
        valid_id=False,
    ),
    Case(
        "sqli-schema-name",
        lambda p: {"plugin_id": p, "manifest": manifest(p, schema='x"; DROP SCHEMA public;--')},
        "sovereign.database.schema",
    ),
    Case(
        "sqli-feature-flag",
        lambda p: {
            "plugin_id": p,
            "manifest": manifest(p, featureFlag="f'; DELETE FROM feature_flags;--"),
        },
        "featureFlag",
    ),
    Case(
        "sqli-dependency",
        lambda p: {"plugin_id": p, "manifest": manifest(p, dependencies=["core'; --"])},
        "dependencies",
    ),
    Case(
        "sqli-target",
        lambda p: {"plugin_id": p, "target": "1; DROP TABLE plugin_migrations"},
        "target",
        task="plugin_db.migrate",
    ),
    Case(
        "sqli-request-id",
        lambda p: {"plugin_id": p, "request_id": "r'); DROP TABLE lifecycle_operations;--\x01"},
        "request_id",
    ),
    Case(
        "migration-outside-namespace",
        lambda p: {"plugin_id": p},
        "users",
        prepare=_migration_outside_namespace,
    ),
    # path traversal
    Case(
        "traversal-id", lambda _: {"plugin_id": "../../etc"}, "is not a plugin id", valid_id=False
    ),
    Case(
        "traversal-id-encoded",
        lambda _: {"plugin_id": "..%2F..%2Fetc"},
        "is not a plugin id",
        valid_id=False,
    ),
    Case(
        "traversal-migrations-dir",
        lambda p: {
            "plugin_id": p,
            "manifest": manifest(p, migrations={"directory": "../../../etc"}),
        },
        "relative path",
    ),
    Case(
        "absolute-migrations-dir",
        lambda p: {"plugin_id": p, "manifest": manifest(p, migrations={"directory": "/etc"})},
        "relative path",
    ),
    Case(
        "traversal-declarative-schema",
        lambda p: {"plugin_id": p, "manifest": manifest(p, declarativeSchema="../../secret.json")},
        "declarativeSchema",
    ),
    Case(
        "backslash-entry-point",
        lambda p: {
            "plugin_id": p,
            "manifest": manifest(p, migrations={"entryPoint": "..\\..\\x.sql"}),
        },
        "entryPoint",
    ),
    Case(
        "symlinked-migrations-dir",
        lambda p: {"plugin_id": p},
        "leaves",
        prepare=_symlinked_migrations,
    ),
    # oversized and deeply nested JSON
    Case(
        "oversized-name",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "name": "n" * 2_000_000}},
        "name",
    ),
    Case(
        "oversized-actor", lambda p: {"plugin_id": p, "requested_by": "a" * 100_000}, "requested_by"
    ),
    Case(
        "deep-manifest",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "extra": _nested(20)}},
        "nested deeper",
    ),
    Case("deep-unknown-field", lambda p: {"plugin_id": p, "deep": _nested(20)}, "unknown field"),
    Case(
        "oversized-plugin-json",
        lambda p: {"plugin_id": p},
        "larger than",
        prepare=_folder(b'{"id": "@ID@", "pad": "' + b"p" * 300_000 + b'"}'),
    ),
    Case(
        "deep-plugin-json",
        lambda p: {"plugin_id": p},
        "plugin.json",
        prepare=_folder(b"[" * 50_000 + b"]" * 50_000),
    ),
    # invalid UTF-8 and unstorable text
    Case(
        "non-utf8-plugin-json",
        lambda p: {"plugin_id": p},
        "not valid UTF-8",
        prepare=_folder(b'{"id": "@ID@", "name": "\xff\xfe"}'),
    ),
    Case(
        "utf16-plugin-json",
        lambda p: {"plugin_id": p},
        "plugin.json",
        prepare=_folder('{"id": "x"}'.encode("utf-16")),
    ),
    Case(
        "not-json-plugin-json",
        lambda p: {"plugin_id": p},
        "not valid JSON",
        prepare=_folder(b"id = '@ID@'"),
    ),
    Case(
        "non-utf8-migration-name",
        lambda p: {"plugin_id": p},
        "name it VERSION-NAME.sql",
        prepare=_non_utf8_migration_name,
    ),
    Case(
        "non-utf8-migration-body",
        lambda p: {"plugin_id": p},
        "not valid UTF-8",
        prepare=_non_utf8_migration_body,
    ),
    Case("nul-in-id", lambda _: {"plugin_id": "ab\x00cd"}, "is not a plugin id", valid_id=False),
    Case("surrogate-in-id", lambda _: {"plugin_id": "ab\ud800"}, "plugin_id", valid_id=False),
    Case("nul-in-actor", lambda p: {"plugin_id": p, "requested_by": "evil\x00"}, "requested_by"),
    Case(
        "surrogate-in-actor", lambda p: {"plugin_id": p, "requested_by": "\udcff"}, "requested_by"
    ),
    Case("nul-unknown-key", lambda p: {"plugin_id": p, "a\x00b": 1}, "unknown field"),
    Case("surrogate-unknown-key", lambda p: {"plugin_id": p, "\ud83d": 1}, "request"),
    Case(
        "surrogate-manifest-key",
        lambda p: {"plugin_id": p, "manifest": manifest(p, **{"\udc80": 1})},
        "unpaired surrogate",
    ),
    Case(
        "surrogate-manifest-id",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "id": "\ud800"}},
        "manifest",
    ),
    Case(
        "nul-in-manifest-extra",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "x": ["a\x00"]}},
        "contains NUL",
    ),
    Case(
        "surrogate-in-manifest-name",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "name": "\ud800"}},
        "unpaired surrogate",
    ),
    Case(
        "nul-in-plugin-json",
        lambda p: {"plugin_id": p},
        "contains NUL",
        prepare=_folder(b'{"id": "@ID@", "name": "a\\u0000b"}'),
    ),
    Case(
        "surrogate-in-plugin-json",
        lambda p: {"plugin_id": p},
        "unpaired surrogate",
        prepare=_folder(b'{"id": "@ID@", "version": "\\udfff"}'),
    ),
    Case(
        "nul-in-schema-document",
        lambda p: {"plugin_id": p, "schema": {"pluginId": p, "x": "\x00"}},
        "contains NUL",
        task="plugin_db.register_schema",
    ),
    Case("nul-in-migration-file", lambda p: {"plugin_id": p}, "001", prepare=_nul_migration),
    # wrong JSON types in every field
    *[
        Case(f"type-request-{key}", lambda p, k=key, v=value: {"plugin_id": p, k: v}, key)
        for key, value in WRONG_TYPES.items()
        if key != "plugin_id"
    ],
    Case("type-request-plugin_id", lambda _: {"plugin_id": 42}, "plugin_id", valid_id=False),
    Case(
        "type-migrate-target",
        lambda p: {"plugin_id": p, "target": 1},
        "target",
        task="plugin_db.migrate",
    ),
    Case(
        "type-migrate-dry_run",
        lambda p: {"plugin_id": p, "dry_run": "yes"},
        "dry_run",
        task="plugin_db.migrate",
    ),
    Case(
        "type-migrate-force",
        lambda p: {"plugin_id": p, "force": 1},
        "force",
        task="plugin_db.migrate",
    ),
    Case(
        "type-teardown-purge",
        lambda p: {"plugin_id": p, "purge": "true"},
        "purge",
        task="plugin_db.teardown",
    ),
    Case(
        "type-register-schema",
        lambda p: {"plugin_id": p, "schema": []},
        "schema",
        task="plugin_db.register_schema",
    ),
    Case(
        "type-manifest-id", lambda p: {"plugin_id": p, "manifest": {**manifest(p), "id": 1}}, "id"
    ),
    Case(
        "type-manifest-name",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "name": 1}},
        "name",
    ),
    Case(
        "type-manifest-version",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "version": []}},
        "version",
    ),
    Case(
        "type-manifest-sovereign",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "sovereign": "x"}},
        "sovereign",
    ),
    Case(
        "type-manifest-schemaVersion",
        lambda p: {
            "plugin_id": p,
            "manifest": {**manifest(p), "sovereign": {"schemaVersion": "2"}},
        },
        "schemaVersion",
    ),
    Case(
        "type-manifest-database",
        lambda p: {"plugin_id": p, "manifest": {**manifest(p), "sovereign": {"database": []}}},
        "database",
    ),
    *[
        Case(
            f"type-manifest-{key}",
            lambda p, k=key, v=value: {"plugin_id": p, "manifest": manifest(p, **{k: v})},
            key,
        )
        for key, value in WRONG_MANIFEST_TYPES.items()
    ],
    Case(
        "type-manifest-directory",
        lambda p: {"plugin_id": p, "manifest": manifest(p, migrations={"directory": 1})},
        "directory",
    ),
    Case(
        "type-manifest-storageMb",
        lambda p: {"plugin_id": p, "manifest": manifest(p, limits={"storageMb": "1"})},
        "storageMb",
    ),
    Case(
        "type-manifest-connections",
        lambda p: {"plugin_id": p, "manifest": manifest(p, limits={"connections": 1.5})},
        "connections",
    ),
    Case(
        "bool-manifest-schemaVersion",
        lambda p: {
            "plugin_id": p,
            "manifest": {**manifest(p), "sovereign": {"schemaVersion": True}},
        },
        "schemaVersion",
    ),
    Case(
        "float-manifest-connections",
        lambda p: {"plugin_id": p, "manifest": manifest(p, limits={"connections": 2.0})},
        "connections",
    ),
    Case(
        "bool-manifest-storageMb",
        lambda p: {"plugin_id": p, "manifest": manifest(p, limits={"storageMb": True})},
        "storageMb",
    ),
    Case(
        "type-manifest-intervalDays",
        lambda p: {"plugin_id": p, "manifest": manifest(p, rotation={"intervalDays": "30"})},
        "intervalDays",
    ),
]


def _files(stack: Stack) -> list[Path]:
    data = Path(stack.env["PLUGIN_DB_DATA_DIR"])
    return sorted(data.rglob("*")) if data.exists() else []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request_is_rejected_audited_and_changes_nothing(corpus: Stack, case: Case) -> None:
    stack = corpus
    plugin_id = pid()
    if case.prepare is not None:
        case.prepare(stack, plugin_id)
    before = _files(stack)
    rid = f"corpus-{uuid.uuid4()}"
    request = {"request_id": rid, **case.request(plugin_id)}
    if not (isinstance(request.get("request_id"), str) and request["request_id"].isprintable()):
        rid = str(uuid.uuid4())  # no usable request_id: the task id is the key
        task_id = rid
    else:
        task_id = str(uuid.uuid4())
    _, message = raw_message(case.task, protocol2_body(request), task_id=task_id)
    push_raw(stack, message)
    op = stack.wait(rid, timeout=60)

    assert op.state == "rejected", (op.state, op.error)
    assert op.error and case.needle in op.error, op.error
    assert op.request == {}
    events = stack.audit(operation_id=op.id)
    assert [e.event for e in events] == ["request_rejected"]
    assert events[0].details["error"] == op.error
    assert _files(stack) == before
    with stack.sessions() as session:
        assert session.query(PluginSecret).filter_by(plugin_id=plugin_id).count() == 0
        assert session.get(PluginDatasource, plugin_id) is None
    if case.valid_id and PLUGIN_ID_RE.fullmatch(plugin_id):
        assert pg_objects(plugin_id) == {"roles": [], "schemas": []}
        assert mysql_objects(plugin_id) == {"users": [], "databases": []}


def test_the_worker_still_provisions_after_the_corpus(corpus: Stack) -> None:
    plugin_id = pid()
    write_plugin(corpus.plugins_root, plugin_id, "exclusive-sqlite")
    assert corpus.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    assert "raised unexpected" not in corpus.logs(), "a hostile request crashed its task"

"""Hypothesis strategies for hostile input: any JSON, wrong types, injections, traversals."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from tests.schema.strategies import documents

NASTY_TEXT = [
    "",
    " ",
    "x'; DROP TABLE users;--",
    'a"; DROP ROLE postgres;--',
    "papertrail; DROP SCHEMA public CASCADE",
    "`x`; DROP DATABASE mysql",
    "../../etc/passwd",
    "..",
    "/etc/shadow",
    "migrations/../../../root",
    "C:\\Windows\\system32",
    "a\x00b",
    "\x00",
    "\ud800",
    "\udcff\udcfe",
    "é",
    "\u202etxt.exe",
    "\uff50\uff41\uff50\uff45\uff52",  # full-width "paper"
    "pg_catalog",
    "information_schema",
    "postgres",
    "core",
    "a" * 41,
    "a" * 5000,
    "A-B",
    "-ab",
    "a--b",
    "null",
    "true",
    "0",
    "1e309",
    "%s%s%s%n",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "\r\n",
    "\t",
]

TEXT = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=60),
    st.text(st.characters(codec="ascii"), max_size=60),
    st.from_regex(r"[a-z][a-z0-9-]{0,45}", fullmatch=True),
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, 0.5, -0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


def deep(levels: int, leaf: Any = 1) -> Any:
    """A JSON value nested ``levels`` deep (alternating dicts and lists)."""
    value = leaf
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


DEEP = st.integers(min_value=20, max_value=200).map(deep)
ANY = st.one_of(JSON, DEEP)
PLUGIN_IDS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,39}", fullmatch=True), TEXT, NUMBERS, st.none(), JSON
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a plausible value, sometimes anything at all."""
    return st.one_of(value, value, ANY)


DATABASE = st.fixed_dictionaries(
    {},
    optional={
        "mode": _maybe(
            st.sampled_from(
                ["shared", "exclusive-sqlite", "exclusive-postgres", "exclusive-mysql", "oracle"]
            )
        ),
        "provider": _maybe(
            st.sampled_from(["sqlite", "postgresql", "postgres", "mysql", "mariadb", "mongo"])
        ),
        "schema": _maybe(st.from_regex(r"[a-z][a-z0-9_]{0,70}", fullmatch=True)),
        "migrations": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "directory": _maybe(TEXT),
                    "entryPoint": _maybe(TEXT),
                },
            )
        ),
        "declarativeSchema": _maybe(TEXT),
        "limits": _maybe(
            st.fixed_dictionaries(
                {}, optional={"storageMb": _maybe(NUMBERS), "connections": _maybe(NUMBERS)}
            )
        ),
        "dependencies": _maybe(st.lists(_maybe(TEXT), max_size=5)),
        "featureFlag": _maybe(TEXT),
        "rotation": _maybe(st.fixed_dictionaries({"intervalDays": _maybe(NUMBERS)})),
        "unknownKey": ANY,
    },
)

MANIFESTS = st.one_of(
    st.fixed_dictionaries(
        {"id": PLUGIN_IDS},
        optional={
            "name": _maybe(TEXT),
            "version": _maybe(TEXT),
            "sovereign": _maybe(
                st.fixed_dictionaries(
                    {},
                    optional={"schemaVersion": _maybe(NUMBERS), "database": _maybe(DATABASE)},
                )
            ),
            "extra": ANY,
        },
    ),
    ANY,
)


def manifest_bytes() -> st.SearchStrategy[bytes]:
    """plugin.json contents: encoded manifests, broken encodings, truncations, binary noise."""
    encoded = MANIFESTS.map(
        lambda m: json.dumps(m, allow_nan=True).encode("utf-8", "surrogatepass")
    )
    return st.one_of(
        encoded,
        encoded.map(lambda b: b[: len(b) // 2]),
        encoded.map(lambda b: b"\xef\xbb\xbf" + b),
        encoded.map(lambda b: b.replace(b'"', b"\xff", 1)),
        st.binary(max_size=200),
        st.just(b"[" * 100_000),
        st.just(b'{"id": "x", "pad": "' + b"a" * (300 * 1024) + b'"}'),
        st.just(b'{"id": "\\ud800"}'),
        st.just(b'{"id": "ok-id", "id": "dupe"}'),
        st.just(b"NaN"),
    )


REQUEST_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "plugin_id": PLUGIN_IDS,
    "request_id": _maybe(TEXT),
    "requested_by": _maybe(TEXT),
    "manifest": MANIFESTS,
    "target": _maybe(st.sampled_from(["0", "001", "20250129_143000", "1.0", "-1", "001; DROP"])),
    "dry_run": _maybe(st.booleans()),
    "force": _maybe(st.booleans()),
    "purge": _maybe(st.booleans()),
    "schema": st.one_of(documents(), ANY),
    "operation_id": ANY,
    "unexpected": ANY,
}


def payloads() -> st.SearchStrategy[Any]:
    """Task arguments: objects with any mix of fields, or not objects at all."""
    return st.one_of(
        st.fixed_dictionaries({}, optional=REQUEST_FIELDS),
        st.fixed_dictionaries(
            {"plugin_id": st.from_regex(r"[a-z][a-z0-9-]{0,39}", fullmatch=True)},
            optional={k: v for k, v in REQUEST_FIELDS.items() if k != "plugin_id"},
        ),
        ANY,
    )


MIGRATION_NAMES = st.one_of(
    st.from_regex(r"\d{1,14}(_\d{1,6})?[-_][A-Za-z0-9][A-Za-z0-9_.-]{0,20}\.sql", fullmatch=True),
    st.sampled_from(
        ["001-a.sql", "../001-a.sql", "001-a.sql\x00.txt", "001.sql", "-001-a.sql", "001-.sql"]
    ),
    st.text(min_size=1, max_size=40),
)
SQL_LINES = st.sampled_from(
    [
        "-- MIGRATION: x",
        "-- Version: 001",
        "-- Version: 999",
        "-- Description: d",
        "-- UP Migration",
        "-- DOWN Migration (Rollback)",
        "-- =====",
        "CREATE TABLE t (id INTEGER);",
        "DROP TABLE users;",
        "'; DROP ROLE postgres; --",
        "",
        "\ufeff",
        "\r",
    ]
)
MIGRATION_TEXT = st.one_of(
    st.lists(st.one_of(SQL_LINES, st.text(max_size=40)), max_size=12).map("\n".join),
    st.text(max_size=300),
)


@st.composite
def schema_documents(draw: st.DrawFn) -> Any:
    """Valid documents, the same with one part replaced by hostile JSON, or any JSON."""
    kind = draw(st.integers(0, 2))
    if kind == 2:
        return draw(ANY)
    doc = draw(documents())
    if kind == 0:
        return doc
    doc = copy.deepcopy(doc)
    paths = _paths(doc)
    path = draw(st.sampled_from(paths))
    _replace(doc, path, draw(ANY))
    return doc


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out or [("pluginId",)]


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value

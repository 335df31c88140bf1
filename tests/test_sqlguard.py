"""The ownership guard, table-driven over the sqlite, postgres and mysql dialects."""

from __future__ import annotations

import pytest

from providers.base import Namespace
from worker.errors import MigrationFileError
from worker.sqlguard import check_statements, split_statements

DIALECTS = ("sqlite", "postgres", "mysql")
SHARED = Namespace(table_prefix="ab_")
EXCLUSIVE = {
    "sqlite": Namespace(containers=frozenset({"main"})),
    "postgres": Namespace(containers=frozenset({"plugin_ab"})),
    "mysql": Namespace(containers=frozenset({"plugin_ab"})),
}
REGISTERED = {"ab_": "ab", "ab_c_": "ab-c", "other_": "other"}


def owner_of(name: str) -> str | None:
    """Longest registered prefix wins, as SharedProvider resolves it."""
    matches = [p for p in REGISTERED if name.startswith(p)]
    return REGISTERED[max(matches, key=len)] if matches else None


ALLOWED = [
    "CREATE TABLE IF NOT EXISTS ab_data (id TEXT PRIMARY KEY, "
    "layer_id TEXT REFERENCES layers(id) ON DELETE CASCADE, created_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idx_ab_data_layer_id ON ab_data(layer_id)",
    "CREATE INDEX ab_data_created ON ab_data(created_at)",
    "ALTER TABLE ab_data ADD COLUMN note TEXT",
    "ALTER TABLE ab_data ADD CONSTRAINT ab_fk FOREIGN KEY (layer_id) REFERENCES layers(id)",
    "CREATE VIEW ab_recent AS SELECT id FROM ab_data",
    "INSERT INTO ab_data (id, created_at) VALUES ('x', 1)",
    "UPDATE ab_data SET note = 'a;b' WHERE id = 'x'",
    "DELETE FROM ab_data WHERE id = 'x'",
    "WITH c AS (SELECT 1 AS n) INSERT INTO ab_data (id, created_at) SELECT 'y', n FROM c",
    "SELECT nextval('ab_seq')",
]

# statement -> words the error message must contain (besides the statement itself)
REFUSED_SHARED = {
    "DROP TABLE users": "users",
    "ALTER TABLE users ADD COLUMN x INTEGER": "users",
    "CREATE TABLE other_plugin_data (id INTEGER)": "other_plugin_data",
    "SELECT * FROM other_schema.t": "other_schema",
    "INSERT INTO b_plugin.t VALUES (1)": "b_plugin",
    "ATTACH DATABASE '/tmp/evil.db' AS evil": "ATTACH",
    "GRANT SELECT ON ab_data TO bob": "GRANT",
    "SET ROLE admin": "role",
    "CREATE TABLE ab_c_data (id INTEGER)": "ab-c",
    "INSERT INTO ab_c_data VALUES (1)": "ab-c",
    "ALTER TABLE ab_data RENAME TO users": "users",
    "SELECT * FROM users": "users",
    "CREATE USER evil": "CREATE USER",
    "DROP ROLE evil": "DROP ROLE",
    "SELECT pg_read_file('/etc/passwd')": "pg_read_file",
    "SELECT setval('users_id_seq', 1)": "users_id_seq",
    "CREATE TABLE ab_copy AS SELECT * FROM users": "users",
}
REFUSED_ALWAYS = {
    "sqlite": ["ATTACH DATABASE 'x.db' AS x", "PRAGMA writable_schema = ON"],
    "postgres": [
        "COPY ab_data FROM PROGRAM 'id'",
        "COPY ab_data TO '/tmp/out'",
        "SET search_path = other",
        "SET SESSION AUTHORIZATION postgres",
        "ALTER ROLE app SUPERUSER",
        "DO $$ BEGIN PERFORM 1; END $$",
    ],
    "mysql": [
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE ab_data",
        "SELECT * FROM ab_data INTO OUTFILE '/tmp/out'",
        "SELECT 1 /*!50000 , (SELECT 1 FROM other.t) */",
        "CREATE USER 'x'@'%' IDENTIFIED BY 'pw'",
        "USE other",
        "SET GLOBAL max_connections = 1",
        "CREATE TABLE ab_t (id INT) DATA DIRECTORY = '/tmp'",
    ],
}


def refused(stmt: str, dialect: str, ns: Namespace, *, force: bool = False) -> str:
    """The guard's message for ``stmt``; fails the test if the guard lets it pass."""
    with pytest.raises(MigrationFileError) as info:
        check_statements([stmt], dialect, ns, force=force, owner_of=owner_of)
    message = str(info.value)
    assert stmt[:40] in message, "the message names the statement"
    return message


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("stmt", ALLOWED)
def test_own_objects_are_allowed(dialect: str, stmt: str) -> None:
    check_statements([stmt], dialect, SHARED, force=False, owner_of=owner_of)
    check_statements([stmt], dialect, EXCLUSIVE[dialect], force=False)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("stmt", "needle"), REFUSED_SHARED.items())
def test_shared_mode_refuses_foreign_objects(dialect: str, stmt: str, needle: str) -> None:
    assert needle in refused(stmt, dialect, SHARED, force=True)


@pytest.mark.parametrize(
    ("dialect", "stmt"), [(d, s) for d, stmts in REFUSED_ALWAYS.items() for s in stmts]
)
def test_dangerous_statements_are_refused_in_every_mode(dialect: str, stmt: str) -> None:
    refused(stmt, dialect, SHARED, force=True)
    refused(stmt, dialect, EXCLUSIVE[dialect], force=True)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_cross_container_access_refused_in_exclusive_mode(dialect: str) -> None:
    ns = EXCLUSIVE[dialect]
    assert "other_schema" in refused("SELECT * FROM other_schema.t", dialect, ns, force=True)
    assert "b_plugin" in refused("INSERT INTO b_plugin.t VALUES (1)", dialect, ns, force=True)
    own = next(iter(ns.containers))
    check_statements([f"SELECT * FROM {own}.t"], dialect, ns, force=False)


DESTRUCTIVE = [
    "DROP TABLE ab_data",
    "ALTER TABLE ab_data DROP COLUMN note",
    "TRUNCATE TABLE ab_data",
]


@pytest.mark.parametrize(
    ("dialect", "stmt"),
    [(d, s) for d in DIALECTS for s in DESTRUCTIVE if not (d == "sqlite" and "TRUNCATE" in s)],
)
def test_destructive_statements_need_force(dialect: str, stmt: str) -> None:
    for ns in (SHARED, EXCLUSIVE[dialect]):
        assert "force" in refused(stmt, dialect, ns)
        check_statements([stmt], dialect, ns, force=True, owner_of=owner_of)


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_drop_of_the_own_container_needs_force(dialect: str) -> None:
    kind = "SCHEMA" if dialect == "postgres" else "DATABASE"
    ns = EXCLUSIVE[dialect]
    assert "force" in refused(f"DROP {kind} plugin_ab", dialect, ns)
    check_statements([f"DROP {kind} plugin_ab"], dialect, ns, force=True)
    assert "other" in refused(f"DROP {kind} other", dialect, ns, force=True)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_prefix_overlap_is_resolved_by_longest_prefix(dialect: str) -> None:
    message = refused("CREATE TABLE ab_c_data (id INTEGER)", dialect, SHARED, force=True)
    assert "ab_c_data" in message
    assert "ab-c" in message
    overlap_owner = Namespace(table_prefix="ab_c_")
    check_statements(["CREATE TABLE ab_c_data (id INTEGER)"], dialect, overlap_owner, force=False)
    assert "ab_" in refused("CREATE TABLE ab_data2 (id INTEGER)", dialect, overlap_owner)


def test_unnamed_postgres_index_is_allowed() -> None:
    check_statements(["CREATE INDEX ON ab_data (note)"], "postgres", SHARED, force=False)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_unparseable_statement_is_refused_by_name(dialect: str) -> None:
    message = refused("CREATE TABLE ab_x (((", dialect, SHARED)
    assert "cannot parse" in message


@pytest.mark.parametrize("dialect", DIALECTS)
def test_split_keeps_semicolons_in_strings_and_comments(dialect: str) -> None:
    script = (
        "-- header; with a semicolon\n"
        "CREATE TABLE ab_t (id INTEGER, note TEXT DEFAULT 'a;b');\n"
        "/* block; comment */\n"
        "INSERT INTO ab_t (id, note) VALUES (1, 'x;y'); -- trailing; comment\n"
        "  ;\n"
        "UPDATE ab_t SET note = 'z' /* inner; */ WHERE id = 1\n"
        "-- only a comment;\n"
    )
    assert split_statements(script, dialect) == [
        "CREATE TABLE ab_t (id INTEGER, note TEXT DEFAULT 'a;b')",
        "INSERT INTO ab_t (id, note) VALUES (1, 'x;y')",
        "UPDATE ab_t SET note = 'z' /* inner; */ WHERE id = 1",
    ]
    assert split_statements("-- nothing;\n/* at all; */", dialect) == []


def test_split_keeps_postgres_dollar_quoted_bodies() -> None:
    script = "CREATE FUNCTION ab_f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2"
    assert split_statements(script, "postgres") == [
        "CREATE FUNCTION ab_f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
        "SELECT 2",
    ]


def test_split_keeps_sqlite_trigger_bodies_together() -> None:
    script = (
        "CREATE TRIGGER ab_trg AFTER INSERT ON ab_t BEGIN "
        "UPDATE ab_t SET note = CASE WHEN id > 0 THEN 'p' ELSE 'n' END; END;\nSELECT 1;"
    )
    pieces = split_statements(script, "sqlite")
    assert len(pieces) == 2
    assert pieces[0].endswith("END; END")
    assert pieces[1] == "SELECT 1"

"""The migration linter on a corpus of safe and unsafe statements per dialect."""

from __future__ import annotations

import pytest

from worker.migrations.lint import lint_script

SAFE = "safe"
# (dialect, statement, expected (kind, rule) pairs)
CORPUS: list[tuple[str, str, set[tuple[str, str]]]] = [
    # PostgreSQL
    ("postgres", "CREATE TABLE t (id INT PRIMARY KEY, note TEXT)", set()),
    ("postgres", "ALTER TABLE t ADD COLUMN c INT", set()),
    ("postgres", "ALTER TABLE t ADD COLUMN c TIMESTAMPTZ DEFAULT now()", set()),
    ("postgres", "ALTER TABLE t ADD COLUMN c UUID DEFAULT gen_random_uuid()",
     {("locking", "volatile_default")}),
    ("postgres", "ALTER TABLE t ADD COLUMN c FLOAT DEFAULT random()",
     {("locking", "volatile_default")}),
    ("postgres", "CREATE INDEX i ON t (c)", {("locking", "index_without_concurrently")}),
    ("postgres", "CREATE INDEX CONCURRENTLY i ON t (c)", set()),
    ("postgres", "ALTER TABLE t ALTER COLUMN c SET NOT NULL", {("locking", "set_not_null")}),
    ("postgres", "ALTER TABLE t ALTER COLUMN c TYPE BIGINT", {("locking", "type_rewrite")}),
    ("postgres", "ALTER TABLE t ALTER COLUMN c TYPE TEXT", set()),
    ("postgres", "ALTER TABLE t ALTER COLUMN c TYPE VARCHAR(10)",
     {("locking", "type_rewrite"), ("destructive", "narrowing_type")}),
    ("postgres", "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id)",
     {("locking", "constraint_without_not_valid")}),
    ("postgres", "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) NOT VALID",
     set()),
    ("postgres", "ALTER TABLE t RENAME COLUMN a TO b", set()),
    ("postgres", "DROP TABLE t", {("destructive", "drop_table")}),
    ("postgres", "DROP SCHEMA s CASCADE", {("destructive", "drop_schema")}),
    ("postgres", "ALTER TABLE t DROP COLUMN c", {("destructive", "drop_column")}),
    ("postgres", "TRUNCATE t", {("destructive", "truncate")}),
    ("postgres", "DELETE FROM t", {("destructive", "delete_without_where")}),
    ("postgres", "DELETE FROM t WHERE id = 1", set()),
    ("postgres", "UPDATE t SET a = 1", {("destructive", "update_without_where")}),
    ("postgres", "UPDATE t SET a = 1 WHERE a IS NULL", set()),
    ("postgres", "INSERT INTO t (id) VALUES (1)", set()),
    # MySQL / MariaDB
    ("mysql", "CREATE TABLE t (id INT PRIMARY KEY)", set()),
    ("mysql", "ALTER TABLE t ADD COLUMN c INT", set()),
    ("mysql", "ALTER TABLE t ADD INDEX i (c)", set()),
    ("mysql", "CREATE INDEX i ON t (c)", set()),
    ("mysql", "ALTER TABLE t ADD UNIQUE KEY u (c)", set()),
    ("mysql", "ALTER TABLE t ALTER COLUMN c SET DEFAULT 3", set()),
    ("mysql", "ALTER TABLE t RENAME TO u", set()),
    ("mysql", "ALTER TABLE t MODIFY c TEXT", {("locking", "table_copy")}),
    ("mysql", "ALTER TABLE t MODIFY c VARCHAR(10)",
     {("locking", "table_copy"), ("destructive", "narrowing_type")}),
    ("mysql", "ALTER TABLE t MODIFY c VARCHAR(10), ALGORITHM=INPLACE, LOCK=NONE",
     {("destructive", "narrowing_type")}),
    ("mysql", "ALTER TABLE t ADD PRIMARY KEY (id)", {("locking", "table_copy")}),
    ("mysql", "ALTER TABLE t ENGINE=InnoDB", {("locking", "table_copy")}),
    ("mysql", "ALTER TABLE t ADD COLUMN c INT, ALGORITHM=COPY", {("locking", "table_copy")}),
    ("mysql", "ALTER TABLE t DROP COLUMN c", {("destructive", "drop_column")}),
    ("mysql", "DROP TABLE t", {("destructive", "drop_table")}),
    ("mysql", "TRUNCATE TABLE t", {("destructive", "truncate")}),
    ("mysql", "DELETE FROM t", {("destructive", "delete_without_where")}),
    ("mysql", "UPDATE t SET a = 1 WHERE id = 2", set()),
    # SQLite (no online DDL to speak of: destructive only)
    ("sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY)", set()),
    ("sqlite", "CREATE INDEX i ON t (c)", set()),
    ("sqlite", "ALTER TABLE t ADD COLUMN c TEXT", set()),
    ("sqlite", "ALTER TABLE t DROP COLUMN c", {("destructive", "drop_column")}),
    ("sqlite", "DROP TABLE t", {("destructive", "drop_table")}),
    ("sqlite", "DELETE FROM t", {("destructive", "delete_without_where")}),
    ("sqlite", "UPDATE t SET a = 1", {("destructive", "update_without_where")}),
]  # fmt: skip


@pytest.mark.parametrize(("dialect", "statement", "expected"), CORPUS)
def test_corpus(dialect: str, statement: str, expected: set[tuple[str, str]]) -> None:
    found = lint_script([statement], dialect)
    assert {(f.kind, f.rule) for f in found} == expected
    assert all(f.suggestion for f in found), "every finding suggests a safe form"


def test_locking_on_a_table_created_in_the_same_file_is_not_reported() -> None:
    found = lint_script(["CREATE TABLE n (id INT, c INT)", "CREATE INDEX i ON n (c)"], "postgres")
    assert found == []


def test_mysql_ddl_in_the_middle_of_a_file_is_non_transactional() -> None:
    statements = ["CREATE TABLE n (id INT)", "INSERT INTO n VALUES (1)", "ALTER TABLE n ADD c INT"]
    found = lint_script(statements, "mysql", transactional_ddl=False)
    assert [(f.kind, f.index) for f in found] == [("non_transactional", 0)]
    assert lint_script(statements, "postgres", transactional_ddl=True) == []


def test_findings_name_the_table_and_the_statement() -> None:
    (finding,) = lint_script(["ALTER TABLE notes DROP COLUMN body"], "postgres")
    assert finding.table == "notes" and "DROP COLUMN body" in finding.statement
    assert finding.to_json()["kind"] == "destructive"

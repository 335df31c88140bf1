"""The migration linter: every statement classified by its parse tree (sqlglot), never by regex.

* ``destructive``: DROP TABLE/COLUMN/SCHEMA/DATABASE, TRUNCATE, DELETE or UPDATE without
  WHERE, a column type change to a bounded type (it may narrow and lose data).
* ``locking``: on PostgreSQL, CREATE INDEX without CONCURRENTLY, ADD COLUMN with a volatile
  default, SET NOT NULL, a type change that rewrites the table, a constraint added without
  NOT VALID; on MySQL/MariaDB, an ALTER the server cannot do INSTANT or INPLACE.
* ``non_transactional``: where DDL commits implicitly (MySQL), DDL followed by more
  statements of the same file: a later failure cannot undo it.

Locking findings on tables created earlier in the same file are dropped (an empty table
locks nothing). Each finding carries a suggested safe form. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlglot import exp

from worker.migrations.lint_rules import (
    ALIASES,
    DDL,
    DESTRUCTIVE,
    LOCKING,
    NON_TRANSACTIONAL,
    SHOWN,
    SNAPSHOT_HINT,
    Hit,
    classify,
    table_of,
    tree_of,
)

__all__ = [
    "DESTRUCTIVE",
    "LOCKING",
    "NON_TRANSACTIONAL",
    "SNAPSHOT_HINT",
    "Finding",
    "lint_script",
    "summary",
]


@dataclass(frozen=True)
class Finding:
    """One classified risk of one statement."""

    kind: str
    rule: str
    message: str
    statement: str
    index: int = 0
    table: str | None = None
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form (audit, ``--json``, dry-run output)."""
        return asdict(self)


def lint_script(
    statements: Sequence[str], dialect: str, *, transactional_ddl: bool = True
) -> list[Finding]:
    """Findings of one file's statements, in order."""
    dialect = ALIASES.get(dialect, dialect)
    created: set[str] = set()
    findings: list[Finding] = []
    for index, sql in enumerate(statements):
        tree = tree_of(sql, dialect)
        if tree is None:
            continue
        hits = classify(tree, dialect)
        last = index == len(statements) - 1
        if not transactional_ddl and isinstance(tree, DDL) and not last:
            hits.append(
                Hit(
                    NON_TRANSACTIONAL,
                    "implicit_commit",
                    "DDL commits implicitly here: if a later statement of this file fails, "
                    "this one stays applied",
                    table_of(tree),
                    "put each DDL statement in a file of its own, or last in its file",
                )
            )
        shown = " ".join(sql.split())[:SHOWN]
        findings += [
            Finding(h.kind, h.rule, h.message, shown, index, h.table, h.suggestion)
            for h in hits
            if not (h.kind == LOCKING and h.table in created)
        ]
        if isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() == "TABLE":
            created.add(table_of(tree) or "")
    return findings


def summary(findings: Sequence[Finding]) -> dict[str, int]:
    """Count of findings per kind."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return counts

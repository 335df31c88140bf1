"""Each migration part (UP or DOWN SQL) parsed once in its life, its analysis kept by checksum.

An analysis is what the ownership guard and the linter read from a part's parse trees: its
statements, each statement's guard facts (:mod:`worker.sqlguard_facts`) and the lint
findings. It depends only on the text, the dialect, whether DDL is transactional and the
rules themselves, so it is keyed by a SHA-256 of those (:data:`RULES` is a checksum of the
rule modules and sqlglot's version: changing a rule re-parses everything once). Analyses live
in this process's memory and in ``migration_analyses``; the namespace, ``force`` and shared
mode's ownership are weighed at every use (:func:`checked`), never stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Namespace
from worker import sqlguard, sqlguard_facts
from worker.errors import MigrationFileError
from worker.jsontext import unstorable_text
from worker.migrations import lint, lint_rules
from worker.migrations.reads import reading
from worker.port import Change
from worker.tracking.models import MigrationAnalysis, utcnow

sqlglot_version = package_version("sqlglot")
_RULE_MODULES = (sqlguard, sqlguard_facts, lint, lint_rules)
RULES = hashlib.sha256(
    b"".join(Path(m.__file__ or "").read_bytes() for m in _RULE_MODULES) + sqlglot_version.encode()
).hexdigest()[:16]
"""Version of the rules: analyses made by other rules are never reused."""
_MEMORY_MAX = 20_000
_CHUNK = 500
_memory: dict[str, Analysis] = {}
_unstored: dict[str, dict[str, Any]] = {}
"""Rows of analyses parsed here and not stored yet (by key)."""
_UNSTORED_MAX = 2_000
"""What an intake parsed waits here for the transaction that stores it (a producer's insert
of the operation, a migrate's lint record); more than this waiting means a process that
parses without storing (its rows are dropped, and are parsed again where they are needed)."""
_TABLE = cast(sa.Table, MigrationAnalysis.__table__)
DEAD_KEPT = timedelta(days=7)
"""How long analyses of other rules stay (a rolling upgrade runs both versions meanwhile)."""
_UPSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class Analysis:
    """One part's statements, their guard facts and its lint findings."""

    statements: tuple[str, ...]
    facts: tuple[tuple[sqlguard_facts.Fact, ...], ...]
    findings: tuple[lint.Finding, ...]
    error: str | None = None
    """Why the part could not be split into statements (it is refused wherever it is used)."""

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "statements": list(self.statements),
            "facts": [[list(f) for f in fs] for fs in self.facts],
            "findings": [f.to_json() for f in self.findings],
            "error": self.error,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Analysis:
        """Read the stored form back."""
        return cls(
            tuple(body["statements"]),
            tuple(
                tuple((str(k), str(w), str(n), bool(b)) for k, w, n, b in fs)
                for fs in body["facts"]
            ),
            tuple(lint.Finding(**f) for f in body["findings"]),
            body.get("error"),
        )


def key_of(sql: str, dialect: str, transactional: bool) -> str:
    """The analysis' key: rules, dialect, DDL kind and text."""
    text = f"{RULES}\0{dialect}\0{int(transactional)}\0{sql}"
    return hashlib.sha256(text.encode()).hexdigest()


def analyze(sql: str, dialect: str, transactional: bool) -> Analysis:
    """Parse a part (no cache): split it, read each statement's facts, lint it."""
    try:
        statements = sqlguard.split_statements(sql, dialect)
    except MigrationFileError as exc:
        return Analysis((), (), (), str(exc))
    try:
        facts = tuple(sqlguard_facts.facts(s, dialect) for s in statements)
        findings = lint.lint_script(statements, dialect, transactional_ddl=transactional)
    finally:
        sqlguard_facts.forget_trees()  # the guard's trees served the linter: not kept
    return Analysis(tuple(statements), facts, tuple(findings))


def checked(
    analysis: Analysis,
    ns: Namespace,
    *,
    force: bool,
    owner_of: Callable[[str], str | None] | None = None,
) -> list[str]:
    """The part's statements, or MigrationFileError for the first one outside ``ns``."""
    if analysis.error is not None:
        raise MigrationFileError(analysis.error)
    for statement, facts in zip(analysis.statements, analysis.facts, strict=True):
        sqlguard.judge(statement, facts, ns, force=force, owner_of=owner_of)
    return list(analysis.statements)


def analyses(
    sessions: sessionmaker[Session],
    write: Callable[[Change], None] | None,
    parts: Iterable[str],
    dialect: str,
    transactional: bool,
) -> dict[str, Analysis]:
    """Analyses of ``parts`` by text: from memory, else the tracking database, else parsed.

    Parts parsed here are stored through ``write`` in one transaction; without ``write``
    they are kept for the next transaction that :func:`storing` joins (a producer's insert
    of the operation, a migrate's lint record) instead of taking one of their own.
    """
    keys = {sql: key_of(sql, dialect, transactional) for sql in dict.fromkeys(parts)}
    missing = [k for k in keys.values() if k not in _memory]
    if missing:
        _remember(_stored(sessions, missing))
    new = {k: analyze(sql, dialect, transactional) for sql, k in keys.items() if k not in _memory}
    storable = {k: a for k, a in new.items() if _storable(a)}
    if storable:  # text with NUL or a lone surrogate is refused elsewhere, never stored
        rows = _rows(dialect, storable)  # built before the write transaction, not inside
        if write is not None:
            write(lambda session: _store(session, rows))
        else:
            _keep(rows)
    _remember(new)
    return {sql: _memory[k] for sql, k in keys.items()}


def _storable(analysis: Analysis) -> bool:
    """Whether no text of the analysis holds NUL or an unpaired surrogate (all of it checked
    as one string: the UTF-8 codec refuses every surrogate, paired in ``str`` or not)."""
    texts = [*analysis.statements, analysis.error or ""]
    texts += [f"{kind}{what}{name}" for fs in analysis.facts for kind, what, name, _ in fs]
    texts += [str(v) for f in analysis.findings for v in f.to_json().values()]
    return unstorable_text("".join(texts), "") is None


def forget_memory() -> None:
    """Drop the analyses kept in this process (the tracking database still has them)."""
    _memory.clear()
    _unstored.clear()


def _keep(rows: list[dict[str, Any]]) -> None:
    if len(_unstored) + len(rows) > _UNSTORED_MAX:
        _unstored.clear()
    _unstored.update((r["key"], r) for r in rows)


def storing(change: Change | None) -> Change | None:
    """``change`` that also stores the analyses kept unstored in this process (taken now: if
    its transaction rolls back they are only parsed again where needed)."""
    rows = list(_unstored.values())
    _unstored.clear()
    if not rows:
        return change

    def apply(session: Session) -> None:
        if change is not None:
            change(session)
        _store(session, rows)

    return apply


def _remember(found: dict[str, Analysis]) -> None:
    if len(_memory) + len(found) > _MEMORY_MAX:
        _memory.clear()
    _memory.update(found)


def _stored(sessions: sessionmaker[Session], keys: list[str]) -> dict[str, Analysis]:
    found: dict[str, Analysis] = {}
    table = _TABLE
    with reading(sessions)() as session:
        for i in range(0, len(keys), _CHUNK):
            query = sa.select(table.c.key, table.c.body).where(
                table.c.key.in_(keys[i : i + _CHUNK])
            )
            found |= {k: Analysis.from_json(body) for k, body in session.execute(query)}
    return found


def _rows(dialect: str, new: dict[str, Analysis]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {"key": k, "dialect": dialect, "body": a.to_json(), "created_at": now, "rules": RULES}
        for k, a in new.items()
    ]


def _store(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert analyses, ignoring keys another process stored meanwhile (same content)."""
    table = _TABLE
    backend = session.get_bind().dialect.name
    if backend in _UPSERTS:
        insert: Any = _UPSERTS[backend](table).on_conflict_do_nothing()
    elif backend in ("mysql", "mariadb"):
        insert = sa.insert(table).prefix_with("IGNORE")
    else:
        keys = [r["key"] for r in rows]
        present = set(session.scalars(sa.select(table.c.key).where(table.c.key.in_(keys))))
        rows, insert = [r for r in rows if r["key"] not in present], sa.insert(table)
    if rows:
        session.execute(insert, rows)


def purge_dead(
    sessions: sessionmaker[Session], older_than: timedelta = DEAD_KEPT, batch: int = 1000
) -> int:
    """Delete analyses made by other rules than this code's, stored more than ``older_than``
    ago (so two versions side by side during an upgrade do not purge each other's); returns
    how many. Deleted in batches, each its own short transaction."""
    table, cutoff, total = _TABLE, utcnow() - older_than, 0
    dead = sa.or_(table.c.rules.is_(None), table.c.rules != RULES)
    keys = sa.select(table.c.key).where(dead, table.c.created_at < cutoff).limit(batch)
    while True:
        with sessions.begin() as session:
            found = list(session.scalars(keys))
            if found:
                session.execute(sa.delete(table).where(table.c.key.in_(found)))
        total += len(found)
        if len(found) < batch:
            return total

"""The ledger inside the plugin's own storage, written in the same transaction as a migration.

Tracking rows live in another database, so they cannot commit atomically with the plugin's
DDL. The ledger can: after a crash, it says exactly which versions (and, where DDL is not
transactional, which statements) ran, and the engine converges from there.

Where DDL is not transactional (MySQL/MariaDB), a file that fails part-way leaves an
*incomplete* entry whose ``statements_done`` counts the statements that ran. The next run
continues with the statement after them, so a file fixed after such a failure must keep the
statements that already ran unchanged (only the failing one and later ones may change); the
entry's checksum is the one of the file that started it until the file completes, when it
becomes the checksum of the file that finished it. Drift checks skip incomplete entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from providers.base import PluginSpec, Provider
from worker.errors import MigrationFailed
from worker.tracking.models import utcnow


@cache
def _dialect(scheme: str) -> sa.engine.Dialect:
    """The SQLAlchemy dialect that compiles ledger statements for a driver's connections."""
    return sa.create_engine(scheme).dialect


def _history(name: str) -> sa.TableClause:
    columns = ("version", "checksum", "statements_done", "complete", "applied_at")
    return sa.table(name, *map(sa.column, columns))


@dataclass(frozen=True)
class LedgerEntry:
    """One version as the plugin's storage records it."""

    version: str
    checksum: str
    statements_done: int
    complete: bool


class Ledger:
    """Runs migration statements on a plugin connection and keeps the ledger in step."""

    def __init__(self, provider: Provider, spec: PluginSpec, conn: Any) -> None:
        self.conn = conn
        self.transactional = provider.transactional_ddl
        self.table = provider.history_table_name(spec)
        self.history = _history(self.table)
        self.dialect = _dialect(provider.sqlalchemy_scheme)

    def _exec(self, sql: str | ClauseElement) -> Any:
        """Run raw text (DDL, a migration statement) or a Core statement compiled for us."""
        cursor = self.conn.cursor()
        if isinstance(sql, str):
            cursor.execute(sql)
            return cursor
        compiled = cast(SQLCompiler, sql.compile(dialect=self.dialect))
        params = compiled.construct_params() or {}
        if compiled.positional:
            cursor.execute(str(compiled), tuple(params[k] for k in compiled.positiontup or ()))
        else:
            cursor.execute(str(compiled), params)
        return cursor

    def _where(self, version: str) -> sa.ColumnElement[bool]:
        return self.history.c.version == version

    def ensure(self) -> None:
        """Create the ledger table if it is missing."""
        self._exec(
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "version VARCHAR(50) PRIMARY KEY, checksum VARCHAR(64) NOT NULL, "
            "statements_done INTEGER NOT NULL, complete INTEGER NOT NULL, "
            "applied_at VARCHAR(40) NOT NULL)"
        )

    def entries(self) -> dict[str, LedgerEntry]:
        """Every version the storage has (fully or partly) applied."""
        h = self.history.c
        query = sa.select(h.version, h.checksum, h.statements_done, h.complete)
        rows = self._exec(query.select_from(self.history)).fetchall()
        return {r[0]: LedgerEntry(r[0], r[1], int(r[2]), bool(r[3])) for r in rows}

    def entries_if_any(self) -> dict[str, LedgerEntry]:
        """Like :meth:`entries`, but empty (and nothing created) when there is no ledger yet."""
        try:
            return self.entries()
        except Exception:  # driver errors differ per dialect; all mean "no ledger table yet"
            return {}  # (connections are autocommit: a failed SELECT leaves no transaction)

    def apply(self, version: str, checksum: str, statements: Sequence[str]) -> None:
        """Run an UP part: one transaction, or statement by statement with progress.

        An applied version (``force``) runs again from its first statement.
        """
        if self.transactional:
            forget = sa.delete(self.history).where(self._where(version))
            insert = self._insert(version, checksum, len(statements))
            self._in_transaction(version, statements, forget, insert)
            return
        done = self._progress(version, checksum)
        for index, statement in enumerate(statements[done:], start=done):
            self._run(version, statement)
            self._exec(self._update(version, statements_done=index + 1))
        self._exec(self._update(version, complete=1, checksum=checksum))

    def rechecksum(self, version: str, checksum: str) -> None:
        """Accept the current file of an applied version (repair)."""
        self._exec(self._update(version, checksum=checksum))

    def revert(self, version: str, statements: Sequence[str]) -> None:
        """Run a DOWN part and forget the version, atomically where the dialect allows."""
        delete = sa.delete(self.history).where(self._where(version))
        if self.transactional:
            self._in_transaction(version, statements, delete)
            return
        for statement in statements:
            self._run(version, statement)
        self._exec(delete)

    def forget(self, version: str) -> None:
        """Drop a version from the ledger (repair)."""
        self._exec(sa.delete(self.history).where(self._where(version)))

    def adopt(self, version: str, checksum: str) -> None:
        """Record a version as applied without running it (baseline)."""
        self._exec(self._insert(version, checksum, 0))

    def _insert(self, version: str, checksum: str, done: int, complete: int = 1) -> ClauseElement:
        row = {"version": version, "checksum": checksum, "statements_done": done}
        applied = {"complete": complete, "applied_at": utcnow().isoformat()}
        return sa.insert(self.history).values(**row, **applied)

    def _update(self, version: str, **values: Any) -> ClauseElement:
        return sa.update(self.history).where(self._where(version)).values(**values)

    def _progress(self, version: str, checksum: str) -> int:
        entry = self.entries().get(version)
        if entry is None:
            self._exec(self._insert(version, checksum, 0, complete=0))
            return 0
        if entry.complete:  # force: run an applied version again, from the start
            self._exec(self._update(version, statements_done=0, complete=0, checksum=checksum))
            return 0
        return entry.statements_done

    def _in_transaction(
        self,
        version: str,
        statements: Sequence[str],
        *ledger_writes: ClauseElement,
    ) -> None:
        self._exec("BEGIN")
        try:
            for statement in statements:
                self._run(version, statement)
            for write in ledger_writes:
                self._exec(write)
        except BaseException:
            self._exec("ROLLBACK")
            raise
        self._exec("COMMIT")

    def _run(self, version: str, statement: str) -> None:
        try:
            self._exec(statement)
        except (
            Exception
        ) as exc:  # driver errors differ per dialect; all mean "this statement failed"
            if isinstance(exc, MigrationFailed):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MigrationFailed(version, statement[:300], reason) from exc

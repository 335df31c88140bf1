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
from typing import Any

from providers.base import PluginSpec, Provider
from worker.errors import MigrationFailed
from worker.tracking.models import utcnow


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
        self.mark = "?" if provider.paramstyle == "qmark" else "%s"

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self.conn.cursor()
        cursor.execute(sql, tuple(params)) if params else cursor.execute(sql)
        return cursor

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
        rows = self._exec(
            f"SELECT version, checksum, statements_done, complete FROM {self.table}"
        ).fetchall()
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
            forget = (f"DELETE FROM {self.table} WHERE version = {self.mark}", (version,))
            insert = self._insert(version, checksum, len(statements))
            self._in_transaction(version, statements, forget, insert)
            return
        done = self._progress(version, checksum)
        for index, statement in enumerate(statements[done:], start=done):
            self._run(version, statement)
            progress = f"UPDATE {self.table} SET statements_done = {self.mark} WHERE version = "
            self._exec(progress + self.mark, (index + 1, version))
        self._exec(
            f"UPDATE {self.table} SET complete = 1, checksum = {self.mark} "
            f"WHERE version = {self.mark}",
            (checksum, version),
        )

    def rechecksum(self, version: str, checksum: str) -> None:
        """Accept the current file of an applied version (repair)."""
        self._exec(
            f"UPDATE {self.table} SET checksum = {self.mark} WHERE version = {self.mark}",
            (checksum, version),
        )

    def revert(self, version: str, statements: Sequence[str]) -> None:
        """Run a DOWN part and forget the version, atomically where the dialect allows."""
        delete = (f"DELETE FROM {self.table} WHERE version = {self.mark}", (version,))
        if self.transactional:
            self._in_transaction(version, statements, delete)
            return
        for statement in statements:
            self._run(version, statement)
        self._exec(*delete)

    def forget(self, version: str) -> None:
        """Drop a version from the ledger (repair)."""
        self._exec(f"DELETE FROM {self.table} WHERE version = {self.mark}", (version,))

    def adopt(self, version: str, checksum: str) -> None:
        """Record a version as applied without running it (baseline)."""
        sql, params = self._insert(version, checksum, 0)
        self._exec(sql, params)

    def _insert(self, version: str, checksum: str, done: int) -> tuple[str, tuple[Any, ...]]:
        marks = ", ".join([self.mark] * 5)
        return (
            f"INSERT INTO {self.table} (version, checksum, statements_done, complete, applied_at) "
            f"VALUES ({marks})",
            (version, checksum, done, 1, utcnow().isoformat()),
        )

    def _progress(self, version: str, checksum: str) -> int:
        entry = self.entries().get(version)
        if entry is None:
            sql, params = self._insert(version, checksum, 0)
            self._exec(sql, (*params[:3], 0, params[4]))
            return 0
        if entry.complete:  # force: run an applied version again, from the start
            self._exec(
                f"UPDATE {self.table} SET statements_done = 0, complete = 0, "
                f"checksum = {self.mark} WHERE version = {self.mark}",
                (checksum, version),
            )
            return 0
        return entry.statements_done

    def _in_transaction(
        self,
        version: str,
        statements: Sequence[str],
        *ledger_writes: tuple[str, tuple[Any, ...]],
    ) -> None:
        self._exec("BEGIN")
        try:
            for statement in statements:
                self._run(version, statement)
            for write in ledger_writes:
                self._exec(*write)
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

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from providers.base import PluginSpec, Provider
from worker.errors import MigrationFailed
from worker.migrations.ledger_sql import LedgerSql, Write


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
        self.scripts = provider.runs_scripts
        self.known: dict[str, LedgerEntry] | None = None
        """The entries as last read and since written (None until :meth:`entries`)."""
        self.table = provider.history_table_name(spec)
        self.sql = LedgerSql(self.table, provider.sqlalchemy_scheme)
        self.history = self.sql.history
        self.dialect = self.sql.dialect

    def _exec(self, sql: str | ClauseElement | Write) -> Any:
        """Run raw text (DDL, a migration statement), a ledger write or a Core statement."""
        cursor = self.conn.cursor()
        if isinstance(sql, str):
            cursor.execute(sql)
            return cursor
        params: Mapping[str, Any]
        if isinstance(sql, Write):
            compiled, params = self.sql.compiled(sql.shape), sql.params
        else:
            compiled = cast(SQLCompiler, sql.compile(dialect=self.dialect))
            params = compiled.construct_params() or {}
        if compiled.positional:
            cursor.execute(str(compiled), tuple(params[k] for k in compiled.positiontup or ()))
        else:
            cursor.execute(str(compiled), params)
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
        rows = self._exec(self.sql.entries()).fetchall()
        self.known = {r[0]: LedgerEntry(r[0], r[1], int(r[2]), bool(r[3])) for r in rows}
        return dict(self.known)

    def ensured(self) -> dict[str, LedgerEntry]:
        """:meth:`entries`, the table created first if it is missing (one round trip when it
        exists)."""
        try:
            return self.entries()
        except Exception:  # driver errors differ per dialect; all mean "no ledger table yet"
            self.ensure()  # (connections are autocommit: a failed SELECT leaves no transaction)
        return self.entries()

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
            self._in_transaction(version, statements, *self._writes(version, checksum, statements))
        else:
            self._apply_steps(version, checksum, statements, self._entry(version))
        if self.known is not None:
            self.known[version] = LedgerEntry(version, checksum, len(statements), True)

    def apply_many(self, parts: Sequence[tuple[str, str, Sequence[str]]]) -> bool:
        """Several UP parts (version, checksum, statements) in one transaction, or none of
        them (transactional DDL only).

        False when it failed: everything was rolled back, and the caller applies the parts one
        by one with :meth:`apply` (which names the failing statement and keeps the parts
        before it), so the outcome is the same as one transaction per part.
        """
        statements = [s for _, _, part in parts for s in part]
        writes = [w for v, c, part in parts for w in self._writes(v, c, part)]
        if self.scripts:
            done = self._as_script([*statements, *map(self.sql.literal, writes)])
        else:
            done = self._try_transaction(statements, writes)
        if done and self.known is not None:
            for version, checksum, part in parts:
                self.known[version] = LedgerEntry(version, checksum, len(part), True)
        return done

    def _writes(self, version: str, checksum: str, statements: Sequence[str]) -> list[Write]:
        """The ledger row of an applied part (replacing an earlier one, if any: ``force``)."""
        insert = self.sql.insert(version, checksum, len(statements))
        fresh = self.known is not None and version not in self.known
        return [insert] if fresh else [self.sql.delete(version), insert]

    def _try_transaction(self, statements: Sequence[str], writes: Sequence[Write]) -> bool:
        self._exec("BEGIN")
        try:
            for statement in statements:
                self._exec(statement)
            for write in writes:
                self._exec(write)
        except Exception:  # driver errors differ per dialect; the caller runs them one by one
            self._exec("ROLLBACK")
            return False
        except BaseException:
            self._exec("ROLLBACK")
            raise
        self._exec("COMMIT")
        return True

    def _apply_steps(
        self, version: str, checksum: str, statements: Sequence[str], entry: LedgerEntry | None
    ) -> None:
        """Statement by statement; each one's progress is written right after it.

        The entry is created after the first statement (a crash before it leaves no entry,
        which means the same as an entry with none done); the last write completes it.
        """
        done, exists = 0, entry is not None
        if entry is not None and entry.complete:  # force: run an applied version again
            self._exec(self.sql.update(version, statements_done=0, complete=0, checksum=checksum))
        elif entry is not None:
            done = entry.statements_done
        todo = list(enumerate(statements))[done:]
        if not todo:
            self._progress(version, checksum, len(statements), exists=exists, final=True)
        for index, statement in todo:
            self._run(version, statement)
            final = index + 1 == len(statements)
            self._progress(version, checksum, index + 1, exists=exists, final=final)
            exists = True

    def _progress(
        self, version: str, checksum: str, count: int, *, exists: bool, final: bool
    ) -> None:
        if not exists:
            self._exec(self.sql.insert(version, checksum, count, complete=int(final)))
            return
        completed = {"complete": 1, "checksum": checksum} if final else {}
        self._exec(self.sql.update(version, statements_done=count, **completed))

    def _entry(self, version: str) -> LedgerEntry | None:
        known = self.known if self.known is not None else self.entries()
        return known.get(version)

    def rechecksum(self, version: str, checksum: str) -> None:
        """Accept the current file of an applied version (repair)."""
        self._exec(self.sql.update(version, checksum=checksum))

    def revert(self, version: str, statements: Sequence[str]) -> None:
        """Run a DOWN part and forget the version, atomically where the dialect allows."""
        delete = self.sql.delete(version)
        if self.transactional:
            self._in_transaction(version, statements, delete)
        else:
            for statement in statements:
                self._run(version, statement)
            self._exec(delete)
        self._drop_known(version)

    def _drop_known(self, version: str) -> None:
        if self.known is not None:
            self.known.pop(version, None)

    def forget(self, version: str) -> None:
        """Drop a version from the ledger (repair)."""
        self._exec(self.sql.delete(version))
        self._drop_known(version)

    def adopt(self, version: str, checksum: str) -> None:
        """Record a version as applied without running it (baseline)."""
        self._exec(self.sql.insert(version, checksum, 0))
        if self.known is not None:
            self.known[version] = LedgerEntry(version, checksum, 0, True)

    def _in_transaction(
        self,
        version: str,
        statements: Sequence[str],
        *ledger_writes: Write,
    ) -> None:
        if self.scripts and self._as_script([*statements, *map(self.sql.literal, ledger_writes)]):
            return
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

    def _as_script(self, statements: Sequence[str]) -> bool:
        """Run the statements as one script: one round trip, one implicit transaction.

        False when it failed (the server rolled all of it back): the caller then runs them
        one by one in a transaction, which names the failing statement.
        """
        try:
            self._exec(";\n".join(statements))
        except Exception:  # driver errors differ per dialect; the caller reports the cause
            return False
        return True

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

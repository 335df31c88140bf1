"""Tracking records of migrated versions: ``plugin_migrations`` rows, attempts, audit events.

They are written in batches behind the plugin's ledger (which commits with the DDL): a crash
between the two is repaired from the ledger (``apply._sync_recovered``). A batch reads the
statuses of the plugin's rows it touches in one query and writes each table with Core
``executemany`` statements (one per table and shape), not ORM objects.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from worker import audit
from worker.errors import MigrationFailed
from worker.migrations.files import MigrationFile
from worker.migrations.plan import Planned
from worker.migrations.watch import Watch
from worker.port import Change, PluginPort
from worker.tracking.models import MigrationAttempt, PluginMigration, utcnow

Rows = dict[str, PluginMigration]
ROWS = cast(Table, PluginMigration.__table__)
ATTEMPTS = cast(Table, MigrationAttempt.__table__)
UPDATE = ROWS.update().where(
    ROWS.c.plugin_id == bindparam("row_plugin"),
    ROWS.c.migration_version == bindparam("row_version"),
)


def rows_of(session: Session, port: PluginPort, versions: Iterable[str]) -> Rows:
    """The plugin's ``plugin_migrations`` rows of ``versions``, by version (one query)."""
    wanted = sorted(set(versions))
    if not wanted:
        return {}
    found = session.scalars(
        select(PluginMigration).where(
            PluginMigration.plugin_id == port.plugin_id,
            PluginMigration.migration_version.in_(wanted),
        )
    )
    return {row.migration_version: row for row in found}


def row(
    session: Session,
    port: PluginPort,
    version: str,
    file: MigrationFile | None = None,
    known: Rows | None = None,
) -> PluginMigration:
    """The version's row (from ``known`` when given, else read), created if missing."""
    found = (known if known is not None else rows_of(session, port, [version])).get(version)
    if found is None:
        found = PluginMigration(
            plugin_id=port.plugin_id,
            plugin_name=port.manifest.name or port.plugin_id,
            migration_version=version,
            migration_name=file.name if file else version,
        )
        session.add(found)
        if known is not None:
            known[version] = found
    if file is not None:
        found.migration_name, found.migration_description = file.name, file.description
        found.checksum, found.up_sql, found.down_sql = file.checksum, file.up_sql, file.down_sql
    return found


@dataclass(frozen=True)
class Finished:
    """A version that ran (or failed) and when."""

    planned: Planned
    status: str
    elapsed_ms: int
    error: MigrationFailed | None
    finished_at: datetime


class Batch:
    """Tracking records of finished versions, written in batches.

    The plugin's ledger is already durable when a version finishes, so its tracking row can
    wait for the next batch. A failure is written at once.
    """

    BATCH, SECONDS = 500, 2.0

    def __init__(self, port: PluginPort) -> None:
        self.port, self.pending, self.last = port, list[Finished](), time.monotonic()
        self.watch: Watch[Planned] | None = None

    def add(self, record: Finished) -> None:
        """Queue a finished version; write the batch when it is due."""
        self.pending.append(record)
        due = len(self.pending) >= self.BATCH or time.monotonic() - self.last >= self.SECONDS
        if record.error is not None or due:
            self.flush()

    def flush(self, running: Planned | None = None) -> None:
        """Write every queued record (and mark ``running`` as running) in one transaction."""
        if not self.pending and running is None:
            return
        self.port.journal.write(self._change(list(self.pending), running))
        self.pending.clear()
        self.last = time.monotonic()

    def take(self) -> Change | None:
        """The queued records as a change for the caller to commit with its own, or None.

        Only applied versions are handed over: until the caller commits, a crash leaves them
        to ``apply._sync_recovered`` (the ledger has them). Anything else (a rollback, which
        the ledger forgets) is written here first.
        """
        if any(r.status != "completed" for r in self.pending):
            self.flush()
        pending, self.pending = list(self.pending), []
        return self._change(pending, None) if pending else None

    def _change(self, pending: list[Finished], running: Planned | None) -> Change:
        def write(session: Session) -> None:
            versions = [r.planned.file.version for r in pending]
            rows = _Rows(session, self.port, versions + ([running.file.version] if running else []))
            for record in pending:
                rows.finish(record)
            if running is not None:
                values = rows.touch(running.file)
                values.update(status="running", executed_at=utcnow(), error_message=None)
            rows.write(session)
            if pending:
                session.execute(ATTEMPTS.insert(), [_attempt(self.port, r) for r in pending])
                audit.record_many(session, [_event(self.port, r) for r in pending])

        return write

    def running(self, planned: Planned) -> AbstractContextManager[None]:
        """While the block runs, ``planned`` is marked running (with the queued records) once
        it has run :data:`watch.AFTER` seconds: a long file shows as running while it runs, a
        quick one costs no tracking write. A crash inside leaves what the ledger's incomplete
        entry says (statements done) whether or not the mark was written.
        """
        if self.watch is None:
            self.watch = Watch(lambda p: self.flush(running=p))
        return self.watch.running(planned)

    def close(self) -> None:
        """Stop the helper thread of :meth:`running`, if one was started."""
        if self.watch is not None:
            self.watch.close()


class _Rows:
    """The ``plugin_migrations`` rows of a batch as it leaves them (new ones inserted,
    existing ones updated), from the statuses they have before it."""

    def __init__(self, session: Session, port: PluginPort, versions: list[str]) -> None:
        self.port = port
        wanted = sorted(set(versions))
        found = session.execute(
            select(ROWS.c.migration_version, ROWS.c.status).where(
                ROWS.c.plugin_id == port.plugin_id, ROWS.c.migration_version.in_(wanted)
            )
        )
        self.before: dict[str, str] = dict(found.all())
        self.values: dict[str, dict[str, Any]] = {}

    def status(self, version: str) -> str | None:
        """The row's status at this point of the batch (None: no row)."""
        return self.values.get(version, {}).get("status", self.before.get(version))

    def touch(self, file: MigrationFile) -> dict[str, Any]:
        """The row's new values (the file's columns set), to be updated further."""
        values = self.values.setdefault(file.version, {})
        values.update(
            migration_name=file.name,
            migration_description=file.description,
            checksum=file.checksum,
            up_sql=file.up_sql,
            down_sql=file.down_sql,
        )
        return values

    def finish(self, done: Finished) -> None:
        """Apply one finished version to its row."""
        planned, elapsed, error = done.planned, done.elapsed_ms, done.error
        started = done.finished_at - timedelta(milliseconds=elapsed)
        fresh = planned.direction == "up" and self.status(planned.file.version) != "running"
        values = self.touch(planned.file)
        if fresh:
            values["executed_at"] = started
        values.update(status=done.status, execution_time_ms=elapsed)
        values["error_message"] = str(error) if error else None
        if done.status == "completed":
            values["completed_at"] = done.finished_at
        elif done.status == "rolled_back":
            values["rolled_back_at"] = done.finished_at

    def write(self, session: Session) -> None:
        """One INSERT of the new rows and one UPDATE per shape of the existing ones."""
        port, inserts = self.port, []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for version, values in self.values.items():
            if version in self.before:
                key = ("row_plugin", "row_version", *sorted(values))
                updates.setdefault(key, []).append(
                    {"row_plugin": port.plugin_id, "row_version": version, **values}
                )
                continue
            new = {
                "plugin_id": port.plugin_id,
                "plugin_name": port.manifest.name or port.plugin_id,
                "migration_version": version,
                "status": "pending",
                "executed_at": None,
                "completed_at": None,
                "rolled_back_at": None,
                "execution_time_ms": None,
            }
            inserts.append({**new, **values})
        if inserts:
            session.execute(ROWS.insert(), inserts)
        for params in updates.values():
            session.execute(UPDATE, params)


def _attempt(port: PluginPort, done: Finished) -> dict[str, Any]:
    """The ``migration_attempts`` row of one finished version."""
    error = done.error
    return {
        "plugin_id": port.plugin_id,
        "migration_version": done.planned.file.version,
        "direction": done.planned.direction,
        "operation_id": port.operation_id,
        "actor": port.actor,
        "started_at": done.finished_at - timedelta(milliseconds=done.elapsed_ms),
        "execution_time_ms": done.elapsed_ms,
        "outcome": done.status,
        "error_message": error.reason if error else None,
        "failing_statement": error.statement if error else None,
    }


def _event(port: PluginPort, done: Finished) -> audit.Event:
    """The audit event of one finished version."""
    error = done.error
    details = {
        "version": done.planned.file.version,
        "direction": done.planned.direction,
        "ms": done.elapsed_ms,
        **({"error": str(error)} if error else {}),
    }
    return audit.Event(
        f"migration_{done.status}", port.plugin_id, port.operation_id, port.actor, details
    )

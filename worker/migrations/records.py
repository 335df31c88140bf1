"""Tracking records of migrated versions: ``plugin_migrations`` rows, attempts, audit events.

They are written in batches behind the plugin's ledger (which commits with the DDL): a crash
between the two is repaired from the ledger (``apply._sync_recovered``). A batch reads the
plugin's rows it touches in one query.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker import audit
from worker.errors import MigrationFailed
from worker.migrations.files import MigrationFile
from worker.migrations.plan import Planned
from worker.port import PluginPort
from worker.tracking.models import MigrationAttempt, PluginMigration, utcnow

Rows = dict[str, PluginMigration]


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

    BATCH, SECONDS = 100, 2.0

    def __init__(self, port: PluginPort) -> None:
        self.port, self.pending, self.last = port, list[Finished](), time.monotonic()

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
        pending = list(self.pending)

        def write(session: Session) -> None:
            versions = [r.planned.file.version for r in pending]
            known = rows_of(
                session, self.port, versions + ([running.file.version] if running else [])
            )
            for record in pending:
                _record(session, self.port, record, known)
            if running is not None:
                found = row(session, self.port, running.file.version, running.file, known)
                found.status, found.executed_at, found.error_message = "running", utcnow(), None

        self.port.journal.write(write)
        self.pending.clear()
        self.last = time.monotonic()


def _record(session: Session, port: PluginPort, done: Finished, known: Rows) -> None:
    """The tracking row, the attempt and the audit event of one finished version."""
    planned, status, elapsed, error = done.planned, done.status, done.elapsed_ms, done.error
    version = planned.file.version
    found = row(session, port, version, planned.file, known)
    if planned.direction == "up" and found.status != "running":
        found.executed_at = done.finished_at - timedelta(milliseconds=elapsed)
    found.status, found.execution_time_ms = status, elapsed
    found.error_message = str(error) if error else None
    if status == "completed":
        found.completed_at = done.finished_at
    elif status == "rolled_back":
        found.rolled_back_at = done.finished_at
    session.add(
        MigrationAttempt(
            plugin_id=port.plugin_id,
            migration_version=version,
            direction=planned.direction,
            operation_id=port.operation_id,
            actor=port.actor,
            started_at=done.finished_at - timedelta(milliseconds=elapsed),
            execution_time_ms=elapsed,
            outcome=status,
            error_message=error.reason if error else None,
            failing_statement=error.statement if error else None,
        )
    )
    audit.record(
        session,
        f"migration_{status}",
        plugin_id=port.plugin_id,
        operation_id=port.operation_id,
        actor=port.actor,
        version=version,
        direction=planned.direction,
        ms=elapsed,
        **({"error": str(error)} if error else {}),
    )

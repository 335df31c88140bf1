"""Run a plugin's migrations and record each version in ``plugin_migrations``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker import audit
from worker.errors import MigrationFailed
from worker.migrations.files import MigrationFile, load_dir
from worker.migrations.ledger import Ledger, LedgerEntry
from worker.migrations.plan import Planned, plan
from worker.migrations.review import SnapshotHook, lint_file_sql, review
from worker.port import PluginPort
from worker.sqlguard import check_statements, split_statements
from worker.tracking.models import MigrationAttempt, PluginMigration, utcnow


def load_files(port: PluginPort) -> list[MigrationFile]:
    """The plugin's migration files, from the folder its manifest names."""
    return load_dir(port.migrations_dir, port.plugin_dir)


def statements_of(port: PluginPort, planned: Planned, force: bool) -> list[str]:
    """The statements of a planned version, refused if they leave the plugin's namespace."""
    dialect = port.provider.dialect
    statements = split_statements(planned.sql, dialect)
    check_statements(
        statements,
        dialect,
        port.provider.namespace(port.spec),
        force=force or planned.direction == "down",
    )
    return statements


def migrate(
    port: PluginPort,
    target: str | None,
    force: bool,
    dry_run: bool,
    snapshot: SnapshotHook | None = None,
) -> dict[str, Any]:
    """Bring the plugin to ``target`` (default: latest); returns what ran (or would run).

    A dry run reads only (no ledger table, no lock). A real run holds the plugin's migration
    lock (:meth:`Provider.migration_lock`) from reading the ledger to the last version.
    """
    files = load_files(port)
    with closing(port.connect()) as conn:
        ledger = Ledger(port.provider, port.spec, conn)
        if dry_run:
            rows = _statuses(port)
            failed = [v for v, status in rows.items() if status == "failed"]
            steps = plan(files, ledger.entries_if_any(), target, force, failed)
            return {
                "dry_run": True,
                "dialect": port.provider.dialect,
                "sql": _preview(port, steps, force),
            }
        with port.provider.migration_lock(port.spec, conn, port.lock_wait) as lease:
            ledger.ensure()
            entries = ledger.entries()
            rows = _sync_recovered(port, entries, _statuses(port))
            failed = [v for v, status in rows.items() if status == "failed"]
            steps = plan(files, entries, target, force, failed)
            checked = review(port, steps, force, snapshot=snapshot)
            allowed = force or checked.snapshot_id is not None  # destructive SQL is covered
            journal = _Batch(port)
            try:
                for planned in steps:
                    _run_one(port, ledger, planned, statements_of(port, planned, allowed), journal)
                    lease.renew()
            finally:
                journal.flush()
    return {
        "applied": [p.file.version for p in steps if p.direction == "up"],
        "rolled_back": [p.file.version for p in steps if p.direction == "down"],
        **checked.to_json(),
    }


def _statuses(port: PluginPort) -> dict[str, str]:
    """Version → tracking status of the plugin's ``plugin_migrations`` rows."""
    with port.sessions() as session:
        return {
            r.migration_version: r.status
            for r in session.scalars(
                select(PluginMigration).where(PluginMigration.plugin_id == port.plugin_id)
            )
        }


def _preview(port: PluginPort, steps: Sequence[Planned], force: bool) -> list[dict[str, Any]]:
    return [
        {
            "version": p.file.version,
            "direction": p.direction,
            "statements": statements_of(port, p, force),
            "findings": [f.to_json() for f in lint_file_sql(port.provider, p.sql)]
            if p.direction == "up"
            else [],
        }
        for p in steps
    ]


def _sync_recovered(
    port: PluginPort, entries: dict[str, LedgerEntry], rows: dict[str, str]
) -> dict[str, str]:
    """Versions the ledger has committed but tracking never heard of (a crash in between).

    Returns ``rows`` as they are after the sync.
    """
    stale = [v for v, e in entries.items() if e.complete and rows.get(v) != "completed"]
    if not stale:
        return rows

    def recover(session: Session) -> None:
        for version in stale:
            row = _row(session, port, version)
            row.status, row.completed_at, row.error_message = "completed", utcnow(), None
            audit.record(
                session,
                "migration_recovered",
                plugin_id=port.plugin_id,
                operation_id=port.operation_id,
                actor=port.actor,
                version=version,
            )

    port.journal.write(recover)
    return {**rows, **dict.fromkeys(stale, "completed")}


def _row(
    session: Session, port: PluginPort, version: str, file: MigrationFile | None = None
) -> PluginMigration:
    row = session.scalars(
        select(PluginMigration).where(
            PluginMigration.plugin_id == port.plugin_id,
            PluginMigration.migration_version == version,
        )
    ).first()
    if row is None:
        row = PluginMigration(
            plugin_id=port.plugin_id,
            plugin_name=port.manifest.name or port.plugin_id,
            migration_version=version,
            migration_name=file.name if file else version,
        )
        session.add(row)
    if file is not None:
        row.migration_name, row.migration_description = file.name, file.description
        row.checksum, row.up_sql, row.down_sql = file.checksum, file.up_sql, file.down_sql
    return row


class _Batch:
    """Tracking records of finished versions, written in batches.

    The plugin's ledger is already durable when a version finishes, so its tracking row can
    wait for the next batch: a crash in between is repaired from the ledger by
    ``_sync_recovered``. A failure is written at once.
    """

    BATCH, SECONDS = 50, 1.0

    def __init__(self, port: PluginPort) -> None:
        self.port, self.pending, self.last = port, list[_Finished](), time.monotonic()

    def add(self, record: _Finished) -> None:
        """Queue a finished version; write the batch when it is due."""
        self.pending.append(record)
        due = len(self.pending) >= self.BATCH or time.monotonic() - self.last >= self.SECONDS
        if record.error is not None or due:
            self.flush()

    def flush(self, then: Callable[[Session], None] | None = None) -> None:
        """Write every queued record (and ``then``) through the port's journal, in one go."""
        if not self.pending and then is None:
            return
        pending = list(self.pending)

        def write(session: Session) -> None:
            for record in pending:
                _record(session, self.port, record)
            if then is not None:
                then(session)

        self.port.journal.write(write)
        self.pending.clear()
        self.last = time.monotonic()


@dataclass(frozen=True)
class _Finished:
    """A version that ran (or failed) and when."""

    planned: Planned
    status: str
    elapsed_ms: int
    error: MigrationFailed | None
    finished_at: datetime


def _run_one(
    port: PluginPort, ledger: Ledger, planned: Planned, statements: list[str], journal: _Batch
) -> None:
    version, up = planned.file.version, planned.direction == "up"
    if not port.provider.transactional_ddl:
        # a file can stop half-way here: show it as running while it runs

        def mark_running(session: Session) -> None:
            row = _row(session, port, version, planned.file)
            row.status, row.executed_at, row.error_message = "running", utcnow(), None

        journal.flush(mark_running)
    started = time.monotonic()
    try:
        if up:
            ledger.apply(version, planned.file.checksum, statements)
        else:
            ledger.revert(version, statements)
    except MigrationFailed as exc:
        journal.add(_Finished(planned, "failed", _ms(started), exc, utcnow()))
        raise
    status = "completed" if up else "rolled_back"
    journal.add(_Finished(planned, status, _ms(started), None, utcnow()))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record(session: Session, port: PluginPort, done: _Finished) -> None:
    """The tracking row, the attempt and the audit event of one finished version."""
    planned, status, elapsed, error = done.planned, done.status, done.elapsed_ms, done.error
    version = planned.file.version
    row = _row(session, port, version, planned.file)
    if planned.direction == "up" and row.status != "running":
        row.executed_at = done.finished_at - timedelta(milliseconds=elapsed)
    row.status, row.execution_time_ms = status, elapsed
    row.error_message = str(error) if error else None
    if status == "completed":
        row.completed_at = done.finished_at
    elif status == "rolled_back":
        row.rolled_back_at = done.finished_at
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

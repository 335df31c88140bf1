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
from worker.lifecycle.context import StepContext
from worker.migrations.files import MigrationFile, load_dir
from worker.migrations.ledger import Ledger, LedgerEntry
from worker.migrations.locks import migration_lock
from worker.migrations.plan import Planned, plan
from worker.migrations.review import lint_file_sql, review
from worker.snapshots.policy import before_migrate
from worker.sqlguard import check_statements, split_statements
from worker.tracking.models import MigrationAttempt, PluginMigration, utcnow


def load_files(ctx: StepContext) -> list[MigrationFile]:
    """The plugin's migration files, from the folder its manifest names."""
    folder = ctx.plugin_dir / ctx.manifest.database.migrations.directory
    return load_dir(folder, ctx.plugin_dir)


def statements_of(ctx: StepContext, planned: Planned, force: bool) -> list[str]:
    """The statements of a planned version, refused if they leave the plugin's namespace."""
    dialect = ctx.provider.dialect
    statements = split_statements(planned.sql, dialect)
    check_statements(
        statements,
        dialect,
        ctx.provider.namespace(ctx.spec),
        force=force or planned.direction == "down",
    )
    return statements


def migrate(ctx: StepContext, target: str | None, force: bool, dry_run: bool) -> dict[str, Any]:
    """Bring the plugin to ``target`` (default: latest); returns what ran (or would run).

    A dry run reads only (no ledger table, no lock). A real run holds the plugin's migration
    lock (:mod:`worker.migrations.locks`) from reading the ledger to the last version.
    """
    files = load_files(ctx)
    with closing(ctx.provider.connect(ctx.spec, ctx.login())) as conn:
        ledger = Ledger(ctx.provider, ctx.spec, conn)
        if dry_run:
            rows = _statuses(ctx)
            failed = [v for v, status in rows.items() if status == "failed"]
            steps = plan(files, ledger.entries_if_any(), target, force, failed)
            return {
                "dry_run": True,
                "dialect": ctx.provider.dialect,
                "sql": _preview(ctx, steps, force),
            }
        wait = ctx.settings.lock_wait_seconds
        with migration_lock(ctx.provider, ctx.spec, conn, wait) as lease:
            ledger.ensure()
            entries = ledger.entries()
            rows = _sync_recovered(ctx, entries, _statuses(ctx))
            failed = [v for v, status in rows.items() if status == "failed"]
            steps = plan(files, entries, target, force, failed)
            checked = review(ctx, steps, force, snapshot=before_migrate)
            allowed = force or checked.snapshot_id is not None  # destructive SQL is covered
            journal = _Journal(ctx)
            try:
                for planned in steps:
                    _run_one(ctx, ledger, planned, statements_of(ctx, planned, allowed), journal)
                    lease.renew()
            finally:
                journal.flush()
    return {
        "applied": [p.file.version for p in steps if p.direction == "up"],
        "rolled_back": [p.file.version for p in steps if p.direction == "down"],
        **checked.to_json(),
    }


def _statuses(ctx: StepContext) -> dict[str, str]:
    """Version → tracking status of the plugin's ``plugin_migrations`` rows."""
    with ctx.store.sessions() as session:
        return {
            r.migration_version: r.status
            for r in session.scalars(
                select(PluginMigration).where(PluginMigration.plugin_id == ctx.plugin_id)
            )
        }


def _preview(ctx: StepContext, steps: Sequence[Planned], force: bool) -> list[dict[str, Any]]:
    return [
        {
            "version": p.file.version,
            "direction": p.direction,
            "statements": statements_of(ctx, p, force),
            "findings": [f.to_json() for f in lint_file_sql(ctx.provider, p.sql)]
            if p.direction == "up"
            else [],
        }
        for p in steps
    ]


def _sync_recovered(
    ctx: StepContext, entries: dict[str, LedgerEntry], rows: dict[str, str]
) -> dict[str, str]:
    """Versions the ledger has committed but tracking never heard of (a crash in between).

    Returns ``rows`` as they are after the sync.
    """
    stale = [v for v, e in entries.items() if e.complete and rows.get(v) != "completed"]
    if not stale:
        return rows
    with ctx.store.fenced(ctx.claim) as session:
        for version in stale:
            row = _row(session, ctx, version)
            row.status, row.completed_at, row.error_message = "completed", utcnow(), None
            audit.record(
                session,
                "migration_recovered",
                plugin_id=ctx.plugin_id,
                operation_id=ctx.op.id,
                actor=ctx.actor,
                version=version,
            )
    return {**rows, **dict.fromkeys(stale, "completed")}


def _row(
    session: Session, ctx: StepContext, version: str, file: MigrationFile | None = None
) -> PluginMigration:
    row = session.scalars(
        select(PluginMigration).where(
            PluginMigration.plugin_id == ctx.plugin_id, PluginMigration.migration_version == version
        )
    ).first()
    if row is None:
        row = PluginMigration(
            plugin_id=ctx.plugin_id,
            plugin_name=ctx.manifest.name or ctx.plugin_id,
            migration_version=version,
            migration_name=file.name if file else version,
        )
        session.add(row)
    if file is not None:
        row.migration_name, row.migration_description = file.name, file.description
        row.checksum, row.up_sql, row.down_sql = file.checksum, file.up_sql, file.down_sql
    return row


class _Journal:
    """Tracking records of finished versions, written in batches.

    The plugin's ledger is already durable when a version finishes, so its tracking row can
    wait for the next batch: a crash in between is repaired from the ledger by
    ``_sync_recovered``. A failure is written at once.
    """

    BATCH, SECONDS = 50, 1.0

    def __init__(self, ctx: StepContext) -> None:
        self.ctx, self.pending, self.last = ctx, list[_Finished](), time.monotonic()

    def add(self, record: _Finished) -> None:
        """Queue a finished version; write the batch when it is due."""
        self.pending.append(record)
        due = len(self.pending) >= self.BATCH or time.monotonic() - self.last >= self.SECONDS
        if record.error is not None or due:
            self.flush()

    def flush(self, then: Callable[[Session], None] | None = None) -> None:
        """Write every queued record (and ``then``) in one fenced transaction."""
        if not self.pending and then is None:
            return
        with self.ctx.store.fenced(self.ctx.claim) as session:
            for record in self.pending:
                _record(session, self.ctx, record)
            if then is not None:
                then(session)
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
    ctx: StepContext, ledger: Ledger, planned: Planned, statements: list[str], journal: _Journal
) -> None:
    version, up = planned.file.version, planned.direction == "up"
    if not ctx.provider.transactional_ddl:
        # a file can stop half-way here: show it as running while it runs

        def mark_running(session: Session) -> None:
            row = _row(session, ctx, version, planned.file)
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


def _record(session: Session, ctx: StepContext, done: _Finished) -> None:
    """The tracking row, the attempt and the audit event of one finished version."""
    planned, status, elapsed, error = done.planned, done.status, done.elapsed_ms, done.error
    version = planned.file.version
    row = _row(session, ctx, version, planned.file)
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
            plugin_id=ctx.plugin_id,
            migration_version=version,
            direction=planned.direction,
            operation_id=ctx.op.id,
            actor=ctx.actor,
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
        plugin_id=ctx.plugin_id,
        operation_id=ctx.op.id,
        actor=ctx.actor,
        version=version,
        direction=planned.direction,
        ms=elapsed,
        **({"error": str(error)} if error else {}),
    )

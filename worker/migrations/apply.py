"""Run a plugin's migrations and record each version in ``plugin_migrations``."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import closing, nullcontext
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker import audit
from worker.errors import MigrationFailed, MigrationFileError
from worker.migrations.analysis import Analysis, analyses, analyze, checked, storing
from worker.migrations.files import MigrationFile, load_dir
from worker.migrations.ledger import Ledger, LedgerEntry
from worker.migrations.plan import Planned, plan
from worker.migrations.reads import reading
from worker.migrations.records import Batch, Finished, row
from worker.migrations.review import SnapshotHook, review
from worker.port import Change, PluginPort
from worker.tracking.models import PluginMigration, utcnow

Parsed = Mapping[str, Analysis]


def load_files(port: PluginPort) -> list[MigrationFile]:
    """The plugin's migration files, from the folder its manifest names."""
    return load_dir(port.migrations_dir, port.plugin_dir)


def parse_plan(port: PluginPort, steps: Sequence[Planned]) -> Parsed:
    """The analyses of a plan's parts (each part parsed once in its life); those parsed now
    are stored with the caller's next tracking write (:func:`storing`)."""
    provider = port.provider
    parts = [p.sql for p in steps]
    return analyses(port.sessions, None, parts, provider.dialect, provider.transactional_ddl)


def statements_of(
    port: PluginPort, planned: Planned, force: bool, parsed: Parsed | None = None
) -> list[str]:
    """The statements of a planned version, refused if they leave the plugin's namespace."""
    provider = port.provider
    found = parsed.get(planned.sql) if parsed is not None else None
    if found is None:
        found = analyze(planned.sql, provider.dialect, provider.transactional_ddl)
    namespace = provider.namespace(port.spec)
    return checked(found, namespace, force=force or planned.direction == "down")


def migrate(
    port: PluginPort,
    target: str | None,
    force: bool,
    dry_run: bool,
    *,
    snapshot: SnapshotHook | None = None,
    files: Sequence[MigrationFile] | None = None,
    first: Change | None = None,
    later: list[Change] | None = None,
) -> dict[str, Any]:
    """Bring the plugin to ``target`` (default: latest); returns what ran (or would run).

    A dry run reads only (no ledger table, no lock). A real run holds the plugin's migration
    lock (:meth:`Provider.migration_lock`) from reading the ledger to the last version, on
    the one connection that runs every version. ``files``: already read by the caller;
    ``first``: a tracking change committed with the batch's lint record, before any version;
    ``later``: where the records of the last finished versions go, for the caller to commit
    with its own (else they are written before this returns).
    """
    files = load_files(port) if files is None else files
    with closing(port.connect()) as conn:
        ledger = Ledger(port.provider, port.spec, conn)
        if dry_run:
            rows = _statuses(port)
            failed = [v for v, status in rows.items() if status == "failed"]
            steps = plan(files, ledger.entries_if_any(), target, force, failed)
            parsed = parse_plan(port, steps)
            if (store := storing(None)) is not None:
                port.journal.write(store)
            return {
                "dry_run": True,
                "dialect": port.provider.dialect,
                "sql": _preview(port, steps, force, parsed),
            }
        with port.provider.migration_lock(port.spec, conn, port.lock_wait) as lease:
            entries = ledger.ensured()
            rows = _sync_recovered(port, entries, _statuses(port))
            failed = [v for v, status in rows.items() if status == "failed"]
            steps = plan(files, entries, target, force, failed)
            parsed = parse_plan(port, steps)  # stored with the lint record:
            first = storing(first)  # analyses parsed here or at intake, in its transaction
            reviewed = review(port, steps, force, snapshot=snapshot, parsed=parsed, first=first)
            allowed = force or reviewed.snapshot_id is not None  # destructive SQL is covered
            journal = Batch(port)
            try:
                group = _Group(port, ledger, journal)
                for planned in steps:
                    try:
                        statements = statements_of(port, planned, allowed, parsed)
                    except MigrationFileError:
                        group.run()  # the versions before a refused one still run
                        raise
                    group.add(planned, statements)
                    lease.renew()
                group.run()
            except BaseException:
                journal.flush()
                raise
            finally:
                journal.close()
            _hand_over(journal, later)
    return {
        "applied": [p.file.version for p in steps if p.direction == "up"],
        "rolled_back": [p.file.version for p in steps if p.direction == "down"],
        **reviewed.to_json(),
    }


def _hand_over(journal: Batch, later: list[Change] | None) -> None:
    if later is None:
        journal.flush()
    elif (change := journal.take()) is not None:
        later.append(change)


def _statuses(port: PluginPort) -> dict[str, str]:
    """Version → tracking status of the plugin's ``plugin_migrations`` rows."""
    query = select(PluginMigration.migration_version, PluginMigration.status).where(
        PluginMigration.plugin_id == port.plugin_id
    )
    with reading(port.sessions)() as session:
        return dict(session.execute(query).all())


def _preview(
    port: PluginPort, steps: Sequence[Planned], force: bool, parsed: Parsed
) -> list[dict[str, Any]]:
    return [
        {
            "version": p.file.version,
            "direction": p.direction,
            "statements": statements_of(port, p, force, parsed),
            "findings": [f.to_json() for f in parsed[p.sql].findings]
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
            found = row(session, port, version)
            found.status, found.completed_at, found.error_message = "completed", utcnow(), None
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


class _Group:
    """Consecutive UP versions applied in one transaction where DDL is transactional.

    All of them commit or none does; if the transaction fails, they run again one by one
    (one transaction each), so what commits and what is reported failed is exactly what one
    transaction per version gives. A crash inside leaves none of them in the ledger.
    """

    MAX = 50

    def __init__(self, port: PluginPort, ledger: Ledger, journal: Batch) -> None:
        self.port, self.ledger, self.journal = port, ledger, journal
        self.todo: list[tuple[Planned, list[str]]] = []

    def add(self, planned: Planned, statements: list[str]) -> None:
        """Queue a version (run at once when it cannot join a group)."""
        if not self.port.provider.transactional_ddl or planned.direction != "up":
            self.run()
            _run_one(self.port, self.ledger, planned, statements, self.journal)
            return
        self.todo.append((planned, statements))
        if len(self.todo) >= self.MAX:
            self.run()

    def run(self) -> None:
        """Apply the queued versions."""
        todo, self.todo = self.todo, []
        started = time.monotonic()
        parts = [(p.file.version, p.file.checksum, s) for p, s in todo]
        if len(todo) > 1 and self.ledger.apply_many(parts):
            share = _ms(started) // len(todo)  # one transaction: its time, shared
            for planned, _ in todo:
                self.journal.add(Finished(planned, "completed", share, None, utcnow()))
            return
        for planned, statements in todo:
            _run_one(self.port, self.ledger, planned, statements, self.journal)


def _run_one(
    port: PluginPort, ledger: Ledger, planned: Planned, statements: list[str], journal: Batch
) -> None:
    version, up = planned.file.version, planned.direction == "up"
    # a file can stop half-way where DDL is not transactional: a long one shows as running
    shown = nullcontext() if port.provider.transactional_ddl else journal.running(planned)
    started = time.monotonic()
    try:
        with shown:
            if up:
                ledger.apply(version, planned.file.checksum, statements)
            else:
                ledger.revert(version, statements)
    except MigrationFailed as exc:
        journal.add(Finished(planned, "failed", _ms(started), exc, utcnow()))
        raise
    status = "completed" if up else "rolled_back"
    journal.add(Finished(planned, status, _ms(started), None, utcnow()))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

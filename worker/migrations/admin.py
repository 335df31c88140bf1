"""Operator actions run in the CLI process: status, repair and baseline.

They reach the plugin through the same port as the engines (:class:`~worker.port.PluginPort`:
its target's driver and its stored credential), take the same migration lock as the worker
(so they never interleave with a migrate), then record tracking rows and an audit event
through the port's journal (committed at once: a CLI command has no step to commit with).
Both repair and baseline drop the stored ``files_checksum`` so the next migrate takes the
full path.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.targets import Targets
from worker import audit
from worker.errors import RequestRejected
from worker.manifest import Manifest
from worker.migrations import gate, status
from worker.migrations.files import MigrationFile
from worker.migrations.ledger import Ledger
from worker.port import DirectJournal, PluginPort
from worker.secrets import SecretBox, load_credentials
from worker.settings import Settings
from worker.tracking.models import MigrationAttempt, PluginDatasource, PluginMigration, utcnow

BASELINE_NOTE = "[baselined: adopted without running]"


def _manifest(settings: Settings, plugin_id: str, ds: PluginDatasource | None) -> Manifest:
    manifest = gate.plugin_manifest(settings.plugins_root, plugin_id, ds)
    if manifest is None:
        raise RequestRejected(
            "no manifest", [f"{plugin_id}: no plugin.json under the plugins root and none stored"]
        )
    return manifest


def open_plugin(
    settings: Settings, sessions: sessionmaker[Session], plugin_id: str, actor: str = "cli"
) -> PluginPort:
    """The plugin's port (driver, credential, journal); RequestRejected if not provisioned."""
    with sessions() as session:
        ds = session.get(PluginDatasource, plugin_id)
        if ds is None or ds.status in ("deleted", "archived"):
            shown = ds.status if ds is not None else "no datasource"
            raise RequestRejected("not available", [f"{plugin_id}: is not provisioned ({shown})"])
        manifest = _manifest(settings, plugin_id, ds)
        provider = Targets.from_settings(settings).provider(ds.target or ds.provider)
        creds = load_credentials(session, SecretBox.from_settings(settings), ds.secrets_ref)
    return PluginPort(
        manifest=manifest,
        provider=provider,
        plugin_dir=settings.plugins_root / plugin_id,
        sessions=sessions,
        journal=DirectJournal(sessions),
        credentials=lambda: creds,
        lock_wait=settings.lock_wait_seconds,
        plugins_root=settings.plugins_root,
        actor=actor,
    )


def _files(port: PluginPort) -> list[MigrationFile]:
    assert port.plugins_root is not None
    return gate.plugin_files(port.plugins_root, port.manifest)


def _rows(session: Session, plugin_id: str) -> list[PluginMigration]:
    query = select(PluginMigration).where(PluginMigration.plugin_id == plugin_id)
    return list(session.scalars(query))


def report(settings: Settings, sessions: sessionmaker[Session], plugin_id: str) -> status.Report:
    """Every version's state from the files on disk and the tracking rows (no plugin I/O)."""
    with sessions() as session:
        ds = session.get(PluginDatasource, plugin_id)
        manifest = gate.plugin_manifest(settings.plugins_root, plugin_id, ds)
        rows = [
            status.TrackedRow(
                r.migration_version,
                r.status,
                r.checksum,
                r.migration_name,
                r.executed_at,
                r.completed_at,
                r.rolled_back_at,
                r.execution_time_ms,
                r.error_message,
            )
            for r in _rows(session, plugin_id)
        ]
    if manifest is None and not rows:
        raise RequestRejected("unknown plugin", [f"{plugin_id}: no manifest and no history"])
    files = gate.plugin_files(settings.plugins_root, manifest) if manifest else []
    return status.compute(files, rows)


def _fill(row: PluginMigration, file: MigrationFile) -> None:
    row.migration_name, row.migration_description = file.name, file.description
    row.checksum, row.up_sql, row.down_sql = file.checksum, file.up_sql, file.down_sql


def repair(port: PluginPort) -> dict[str, Any]:
    """Accept the current files of applied versions and mark failed versions pending again."""
    by_file = {f.version: f for f in _files(port)}
    result: dict[str, Any] = {}
    with closing(port.connect()) as conn:
        ledger = Ledger(port.provider, port.spec, conn)
        with port.provider.migration_lock(port.spec, conn, port.lock_wait):
            entries = ledger.entries_if_any()
            changed = sorted(
                v
                for v, e in entries.items()
                if e.complete and v in by_file and e.checksum != by_file[v].checksum
            )
            for version in changed:
                ledger.rechecksum(version, by_file[version].checksum)

            def record(session: Session) -> None:
                rows = _rows(session, port.plugin_id)
                fixed = [
                    r
                    for r in rows
                    if r.status == "completed"
                    and r.migration_version in by_file
                    and r.checksum != by_file[r.migration_version].checksum
                ]
                for row in fixed:
                    _fill(row, by_file[row.migration_version])
                reset = [r for r in rows if r.status == "failed"]
                for row in reset:
                    row.status, row.error_message = "pending", None
                result.update(
                    {
                        "rechecksummed": sorted({*changed, *(r.migration_version for r in fixed)}),
                        "reset_failed": sorted(r.migration_version for r in reset),
                        "missing_files": sorted(
                            r.migration_version
                            for r in rows
                            if r.migration_version not in by_file
                            and not r.migration_version.startswith(status.SCHEMA_PREFIX)
                        ),
                    }
                )
                audit.record(
                    session,
                    "migrations_repaired",
                    plugin_id=port.plugin_id,
                    actor=port.actor,
                    **result,
                )
                gate.forget_in(session, port.plugin_id)

            port.journal.write(record)
    return {"plugin_id": port.plugin_id, **result}


def baseline(port: PluginPort, version: str) -> dict[str, Any]:
    """Adopt an existing schema at ``version``: every version up to it recorded, none run."""
    all_files = _files(port)
    if version not in {f.version for f in all_files}:
        known = ", ".join(f.version for f in all_files) or "none"
        raise RequestRejected(
            "unknown version", [f"version: no migration file has {version!r} (files: {known})"]
        )
    files = [f for f in all_files if f.version <= version]
    with closing(port.connect()) as conn:
        ledger = Ledger(port.provider, port.spec, conn)
        with port.provider.migration_lock(port.spec, conn, port.lock_wait):
            ledger.ensure()
            entries = ledger.entries()
            adopted = [
                f for f in files if not (f.version in entries and entries[f.version].complete)
            ]
            for file in adopted:
                if file.version in entries:  # a partial entry: the schema is there now
                    ledger.forget(file.version)
                ledger.adopt(file.version, file.checksum)
            result: dict[str, Any] = {
                "version": version,
                "adopted": [f.version for f in adopted],
            }

            def record(session: Session) -> None:
                _record_baseline(session, port, files)
                audit.record(
                    session,
                    "migrations_baselined",
                    plugin_id=port.plugin_id,
                    actor=port.actor,
                    **result,
                )
                gate.forget_in(session, port.plugin_id)

            port.journal.write(record)
    return {"plugin_id": port.plugin_id, **result}


def _record_baseline(session: Session, port: PluginPort, files: list[MigrationFile]) -> None:
    rows = {r.migration_version: r for r in _rows(session, port.plugin_id)}
    now = utcnow()
    for file in files:
        row = rows.get(file.version)
        if row is not None and row.status == "completed":
            continue
        if row is None:
            row = PluginMigration(
                plugin_id=port.plugin_id,
                plugin_name=port.manifest.name or port.plugin_id,
                migration_version=file.version,
                migration_name=file.name,
            )
            session.add(row)
        _fill(row, file)
        row.migration_description = f"{BASELINE_NOTE} {file.description or ''}".strip()
        row.status, row.error_message, row.execution_time_ms = "completed", None, 0
        row.executed_at = row.completed_at = now
        session.add(
            MigrationAttempt(
                plugin_id=port.plugin_id,
                migration_version=file.version,
                direction="up",
                actor=port.actor,
                execution_time_ms=0,
                outcome="baselined",
            )
        )

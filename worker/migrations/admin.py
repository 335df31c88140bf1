"""Operator actions run in the CLI process: status, repair and baseline.

They reach the plugin's storage directly with its provider (built from settings) and its
stored credential, take the same migration lock as the worker (so they never interleave with
a migrate), then write tracking rows and an audit event. Both repair and baseline drop the
stored ``files_checksum`` so the next migrate takes the full path.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Login, PluginSpec, Provider
from providers.targets import Targets
from worker import audit
from worker.errors import RequestRejected
from worker.lifecycle.context import spec_for
from worker.manifest import Manifest
from worker.migrations import gate, status
from worker.migrations.files import MigrationFile
from worker.migrations.ledger import Ledger
from worker.secrets import SecretBox, load_credentials
from worker.settings import Settings
from worker.tracking.models import MigrationAttempt, PluginDatasource, PluginMigration, utcnow

BASELINE_NOTE = "[baselined: adopted without running]"


@dataclass
class PluginHandle:
    """A provisioned plugin as the CLI process reaches it."""

    plugin_id: str
    manifest: Manifest
    provider: Provider
    spec: PluginSpec
    login: Login | None
    files: list[MigrationFile]

    def connect(self) -> Any:
        """A connection to the plugin's storage, as the plugin."""
        return self.provider.connect(self.spec, self.login)


def _manifest(settings: Settings, plugin_id: str, ds: PluginDatasource | None) -> Manifest:
    manifest = gate.plugin_manifest(settings.plugins_root, plugin_id, ds)
    if manifest is None:
        raise RequestRejected(
            "no manifest", [f"{plugin_id}: no plugin.json under the plugins root and none stored"]
        )
    return manifest


def open_plugin(
    settings: Settings, sessions: sessionmaker[Session], plugin_id: str
) -> PluginHandle:
    """The plugin's provider, spec, active login and files; RequestRejected if not provisioned."""
    with sessions() as session:
        ds = session.get(PluginDatasource, plugin_id)
        if ds is None or ds.status in ("deleted", "archived"):
            shown = ds.status if ds is not None else "no datasource"
            raise RequestRejected("not available", [f"{plugin_id}: is not provisioned ({shown})"])
        manifest = _manifest(settings, plugin_id, ds)
        provider = Targets.from_settings(settings).provider(ds.target or ds.provider)
        spec = spec_for(manifest)
        creds = load_credentials(session, SecretBox.from_settings(settings), ds.secrets_ref)
    login = provider.login_for(spec, creds)
    files = gate.plugin_files(settings.plugins_root, manifest)
    return PluginHandle(plugin_id, manifest, provider, spec, login, files)


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


def repair(
    handle: PluginHandle, sessions: sessionmaker[Session], wait: float, actor: str
) -> dict[str, Any]:
    """Accept the current files of applied versions and mark failed versions pending again."""
    by_file = {f.version: f for f in handle.files}
    with closing(handle.connect()) as conn:
        ledger = Ledger(handle.provider, handle.spec, conn)
        with handle.provider.migration_lock(handle.spec, conn, wait):
            entries = ledger.entries_if_any()
            changed = sorted(
                v
                for v, e in entries.items()
                if e.complete and v in by_file and e.checksum != by_file[v].checksum
            )
            for version in changed:
                ledger.rechecksum(version, by_file[version].checksum)
            with sessions.begin() as session:
                rows = _rows(session, handle.plugin_id)
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
                result: dict[str, Any] = {
                    "rechecksummed": sorted({*changed, *(r.migration_version for r in fixed)}),
                    "reset_failed": sorted(r.migration_version for r in reset),
                    "missing_files": sorted(
                        r.migration_version
                        for r in rows
                        if r.migration_version not in by_file
                        and not r.migration_version.startswith(status.SCHEMA_PREFIX)
                    ),
                }
                audit.record(
                    session,
                    "migrations_repaired",
                    plugin_id=handle.plugin_id,
                    actor=actor,
                    **result,
                )
                gate.forget_in(session, handle.plugin_id)
    return {"plugin_id": handle.plugin_id, **result}


def baseline(
    handle: PluginHandle, sessions: sessionmaker[Session], version: str, wait: float, actor: str
) -> dict[str, Any]:
    """Adopt an existing schema at ``version``: every version up to it recorded, none run."""
    if version not in {f.version for f in handle.files}:
        known = ", ".join(f.version for f in handle.files) or "none"
        raise RequestRejected(
            "unknown version", [f"version: no migration file has {version!r} (files: {known})"]
        )
    files = [f for f in handle.files if f.version <= version]
    with closing(handle.connect()) as conn:
        ledger = Ledger(handle.provider, handle.spec, conn)
        with handle.provider.migration_lock(handle.spec, conn, wait):
            ledger.ensure()
            entries = ledger.entries()
            adopted = [
                f for f in files if not (f.version in entries and entries[f.version].complete)
            ]
            for file in adopted:
                if file.version in entries:  # a partial entry: the schema is there now
                    ledger.forget(file.version)
                ledger.adopt(file.version, file.checksum)
            with sessions.begin() as session:
                _record_baseline(session, handle, files, actor)
                result: dict[str, Any] = {
                    "version": version,
                    "adopted": [f.version for f in adopted],
                }
                audit.record(
                    session,
                    "migrations_baselined",
                    plugin_id=handle.plugin_id,
                    actor=actor,
                    **result,
                )
                gate.forget_in(session, handle.plugin_id)
    return {"plugin_id": handle.plugin_id, **result}


def _record_baseline(
    session: Session, handle: PluginHandle, files: list[MigrationFile], actor: str
) -> None:
    rows = {r.migration_version: r for r in _rows(session, handle.plugin_id)}
    now = utcnow()
    for file in files:
        row = rows.get(file.version)
        if row is not None and row.status == "completed":
            continue
        if row is None:
            row = PluginMigration(
                plugin_id=handle.plugin_id,
                plugin_name=handle.manifest.name or handle.plugin_id,
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
                plugin_id=handle.plugin_id,
                migration_version=file.version,
                direction="up",
                actor=actor,
                execution_time_ms=0,
                outcome="baselined",
            )
        )

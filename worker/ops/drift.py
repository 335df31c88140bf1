"""Migration drift: applied versions in ``plugin_migrations`` against the files on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.errors import PluginDbError
from worker.manifest import Manifest
from worker.migrations.files import Scanned, load_dir, scan, scanned_checksum
from worker.ops.findings import Check, Finding, warning
from worker.port import migrations_dir

PluginMigration = Any
"""A ``plugin_migrations`` row (ORM or plain): version, status, checksum are read."""

DECLARATIVE_PREFIX = "schema-"
"""Versions the declarative schema registry records; they have no file."""
MAX_LISTED = 5


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def migration_findings(
    plugin_id: str,
    manifest: Manifest,
    plugin_dir: Path,
    rows: Sequence[PluginMigration],
    stored: str | None = None,
) -> tuple[list[Finding], int]:
    """Findings for one plugin and how many versions are applied.

    ``stored`` is the files checksum its last successful migrate kept in the descriptor: files
    that still match it parse as they did then, so they are compared by name and checksum
    without parsing them again (a fleet's page or doctor run reads each folder once).
    """
    rows = [r for r in rows if not r.migration_version.startswith(DECLARATIVE_PREFIX)]
    applied = {r.migration_version: r for r in rows if r.status == "completed"}
    if not (plugin_dir / "plugin.json").is_file():
        return [], len(applied)  # provisioned from an inline manifest: no files to compare
    folder = migrations_dir(plugin_dir, manifest)
    files = _unparsed(folder, plugin_dir, stored)
    if files is None:
        try:
            files = {f.version: (f.filename, f.checksum) for f in load_dir(folder, plugin_dir)}
        except PluginDbError as exc:
            finding = warning(
                plugin_id,
                Check.MIGRATION_DRIFT,
                f"its migration files cannot be read: {exc}",
                f"fix the files in {folder}",
            )
            return [finding], len(applied)
    recorded = {r.migration_version for r in rows}
    return _compare(plugin_id, folder, applied, files, recorded), len(applied)


def _unparsed(folder: Path, root: Path, stored: str | None) -> Scanned | None:
    """The files by name and checksum when they match ``stored``, else None (parse them)."""
    if stored is None:
        return None
    found = scan(folder, root)
    return found if found is not None and scanned_checksum(found) == stored else None


def _compare(
    plugin_id: str,
    folder: Path,
    applied: dict[str, PluginMigration],
    files: Scanned,
    recorded: set[str],
) -> list[Finding]:
    findings: list[Finding] = []
    changed = [
        f"{files[v][0]} (applied {(applied[v].checksum or '?')[:12]}, file {files[v][1][:12]})"
        for v in sorted(applied)
        if v in files and applied[v].checksum != files[v][1]
    ]
    if changed:
        findings.append(
            warning(
                plugin_id,
                Check.MIGRATION_DRIFT,
                f"applied migration file(s) changed since they ran: {_listed(changed)}",
                f"restore the applied file(s) in {folder} (put the change in a new version), "
                f"or accept the edit with `plugin-db migrations repair {plugin_id}`",
            )
        )
    missing = [v for v in sorted(applied) if v not in files]
    if missing:
        findings.append(
            warning(
                plugin_id,
                Check.MIGRATION_DRIFT,
                f"applied version(s) with no file: {_listed(missing)} (no DOWN part to roll back)",
                f"restore the file(s) in {folder}",
            )
        )
    pending = [files[v][0] for v in sorted(files) if v not in recorded]
    if pending:
        findings.append(
            warning(
                plugin_id,
                Check.MIGRATION_PENDING,
                f"migration file(s) not applied yet: {_listed(pending)}",
                f"`plugin-db migrate {plugin_id}`",
            )
        )
    return findings

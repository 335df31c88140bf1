"""Migration drift: applied versions in ``plugin_migrations`` against the files on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.errors import PluginDbError
from worker.manifest import Manifest
from worker.migrations.files import MigrationFile, load_dir
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
    plugin_id: str, manifest: Manifest, plugin_dir: Path, rows: Sequence[PluginMigration]
) -> tuple[list[Finding], int]:
    """Findings for one plugin and how many versions are applied."""
    rows = [r for r in rows if not r.migration_version.startswith(DECLARATIVE_PREFIX)]
    applied = {r.migration_version: r for r in rows if r.status == "completed"}
    if not (plugin_dir / "plugin.json").is_file():
        return [], len(applied)  # provisioned from an inline manifest: no files to compare
    folder = migrations_dir(plugin_dir, manifest)
    try:
        files = {f.version: f for f in load_dir(folder, plugin_dir)}
    except PluginDbError as exc:
        return [
            warning(
                plugin_id,
                Check.MIGRATION_DRIFT,
                f"its migration files cannot be read: {exc}",
                f"fix the files in {folder}",
            )
        ], len(applied)
    return _compare(plugin_id, folder, applied, files, {r.migration_version for r in rows}), len(
        applied
    )


def _compare(
    plugin_id: str,
    folder: Path,
    applied: dict[str, PluginMigration],
    files: dict[str, MigrationFile],
    recorded: set[str],
) -> list[Finding]:
    findings: list[Finding] = []
    changed = [
        f"{files[v].filename} (applied {(applied[v].checksum or '?')[:12]}, "
        f"file {files[v].checksum[:12]})"
        for v in sorted(applied)
        if v in files and applied[v].checksum != files[v].checksum
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
    pending = [files[v].filename for v in sorted(files) if v not in recorded]
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

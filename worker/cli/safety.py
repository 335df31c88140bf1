"""``plugin-db migrations lint``, snapshots and quotas on the command line."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select

from providers.targets import Targets
from worker.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    JsonOpt,
    WaitOpt,
    emit,
    enqueue,
    fail,
    out,
    sessions,
)
from worker.cli.common import settings as get_settings
from worker.cli.lintview import statements_lines
from worker.cli.migrations import migrations_app
from worker.errors import PluginDbError, RequestRejected
from worker.migrations import gate
from worker.migrations.lint import DESTRUCTIVE, LOCKING, Finding, summary
from worker.migrations.review import lint_file_sql
from worker.ops.findings import human_size
from worker.quotas import Quotas
from worker.snapshots.policy import tracked_target
from worker.snapshots.service import Snapshots as SnapshotService
from worker.sqlguard import split_statements
from worker.states import Kind
from worker.tracking.models import PluginDatasource, PluginMigration, PluginSnapshot


def _fail(exc: PluginDbError, as_json: bool) -> None:
    fail(str(exc), EXIT_BAD_INPUT if isinstance(exc, RequestRejected) else EXIT_FAILED, as_json)


def lint_report(plugin_id: str) -> dict[str, Any]:
    """Every migration file's UP statements with their findings; pending files flagged."""
    config = get_settings()
    with sessions()() as session:
        ds = session.get(PluginDatasource, plugin_id)
        applied = set(
            session.scalars(
                select(PluginMigration.migration_version).where(
                    PluginMigration.plugin_id == plugin_id, PluginMigration.status == "completed"
                )
            )
        )
    manifest = gate.plugin_manifest(config.plugins_root, plugin_id, ds)
    if manifest is None:
        raise RequestRejected("no manifest", [f"{plugin_id}: no plugin.json and none stored"])
    recorded = (ds.target or ds.provider) if ds is not None else None
    provider = Targets.from_settings(config).provider_for(recorded, manifest.database.mode.value)
    files: list[dict[str, Any]] = []
    every: list[Finding] = []
    for file in gate.plugin_files(config.plugins_root, manifest):
        findings = lint_file_sql(provider, file.up_sql)
        every += findings
        files.append(
            {
                "version": file.version,
                "filename": file.filename,
                "state": "applied" if file.version in applied else "pending",
                "statements": split_statements(file.up_sql, provider.dialect),
                "findings": [f.to_json() for f in findings],
            }
        )
    counts = summary(every)
    return {"plugin_id": plugin_id, "dialect": provider.dialect, "summary": counts, "files": files}


@migrations_app.command("lint")
def migrations_lint(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Classify every statement (destructive, locking, non-transactional) with safe forms.

    Exit status 1 when a pending file has a destructive or locking finding.
    """
    try:
        report = lint_report(plugin_id)
    except PluginDbError as exc:
        _fail(exc, as_json)
        return
    risky = any(
        f["kind"] in (DESTRUCTIVE, LOCKING)
        for item in report["files"]
        if item["state"] == "pending"
        for f in item["findings"]
    )
    if as_json:
        emit(report, True)
    else:
        for item in report["files"]:
            out.print(f"[bold]{item['filename']}[/bold] ({item['state']})")
            out.print("\n".join(statements_lines(item["statements"], item["findings"])))
        shown = ", ".join(f"{n} {k}" for k, n in sorted(report["summary"].items()))
        out.print(f"{plugin_id} ({report['dialect']}): {shown or 'no findings'}")
    if risky:
        raise typer.Exit(EXIT_FAILED)


# -- snapshots -------------------------------------------------------------------------------

snapshots_app = typer.Typer(help="Snapshots of a plugin's storage.", no_args_is_help=True)


def _snapshot_json(row: PluginSnapshot) -> dict[str, Any]:
    return {
        "id": row.id,
        "plugin_id": row.plugin_id,
        "reason": row.reason,
        "state": row.state,
        "provider": row.provider,
        "format": row.format,
        "operation_id": row.operation_id,
        "ledger": [e["version"] for e in row.ledger],
        "size_bytes": row.size_bytes,
        "raw_bytes": row.raw_bytes,
        "checksum": row.checksum,
        "location": row.location,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "error": row.error,
    }


def snapshot(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Take a snapshot of a plugin's storage now (reason ``manual``)."""
    config = get_settings()
    try:
        target = tracked_target(config, sessions(), plugin_id)
        row = SnapshotService(config, sessions()).take(target, "manual", actor="cli")
    except PluginDbError as exc:
        _fail(exc, as_json)
        return
    size = f"{(row.size_bytes or 0) / 1024:.1f} KiB"
    emit(_snapshot_json(row), as_json, f"snapshot {row.id} of {plugin_id}: {size}")


@snapshots_app.command("restore")
def snapshots_restore(
    plugin_id: str, snapshot_id: int, wait: bool = WaitOpt, as_json: bool = JsonOpt
) -> None:
    """Restore the plugin's storage (and migration records) to SNAPSHOT_ID."""
    enqueue(
        Kind.RESTORE_SNAPSHOT, {"plugin_id": plugin_id, "snapshot_id": snapshot_id}, wait, as_json
    )


@snapshots_app.command("list")
def snapshots_list(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Every snapshot of a plugin, newest first."""
    rows = SnapshotService(get_settings(), sessions()).listing(plugin_id)
    if as_json:
        emit([_snapshot_json(r) for r in rows], True)
        return
    table = Table(title=f"snapshots {plugin_id}")
    for column in ("id", "reason", "state", "ledger", "size", "created", "expires"):
        table.add_column(column)
    for r in rows:
        ledger = r.ledger[-1]["version"] if r.ledger else "-"
        size = f"{(r.size_bytes or 0) / 1024:.1f} KiB"
        table.add_row(
            str(r.id), r.reason, r.state, ledger, size, str(r.created_at), str(r.expires_at)
        )
    out.print(table)


# -- quotas ----------------------------------------------------------------------------------

quotas_app = typer.Typer(help="Storage quotas (limits.storageMb).", no_args_is_help=True)


@quotas_app.command("enforce")
def quotas_enforce(
    plugin_id: str | None = typer.Option(None, "--plugin", help="Only this plugin."),
    as_json: bool = JsonOpt,
) -> None:
    """Measure every ready plugin; over its limit it becomes read-only, below 95 % writable."""
    checks = Quotas(get_settings(), sessions()).enforce(plugin_id)
    lines = [
        f"  {c.plugin_id:<40} {human_size(c.size_bytes):>10} of {human_size(c.limit_bytes):>10}"
        f"  {'read-only' if c.read_only else 'writable':<9} {c.action or ''} {c.error or ''}"
        for c in checks
    ]
    changed = sum(c.action is not None for c in checks)
    lines.append(f"quotas: {len(checks)} plugins measured, {changed} changed")
    emit({"plugins": [c.to_json() for c in checks]}, as_json, "\n".join(lines))


def register(app: typer.Typer) -> None:
    """Attach the snapshot and quota commands (``migrations lint`` attaches on import)."""
    app.command()(snapshot)
    app.add_typer(snapshots_app, name="snapshots")
    app.add_typer(quotas_app, name="quotas")

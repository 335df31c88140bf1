"""``plugin-db migrations list|repair|baseline|verify``."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.table import Table

from providers.targets import Targets
from worker import audit
from worker.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    JsonOpt,
    emit,
    fail,
    out,
    sessions,
    settings,
)
from worker.errors import PluginDbError, RequestRejected
from worker.lifecycle.context import spec_for
from worker.migrations import admin, gate, verify
from worker.tracking.models import PluginDatasource

migrations_app = typer.Typer(
    help="Migration history, drift repair, baseline and reversibility proofs of a plugin.",
    no_args_is_help=True,
)


def _fail(exc: PluginDbError, as_json: bool) -> NoReturn:
    fail(str(exc), EXIT_BAD_INPUT if isinstance(exc, RequestRejected) else EXIT_FAILED, as_json)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


@migrations_app.command("list")
def migrations_list(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Every version's state (files on disk + history) and the checksum of the set of files."""
    try:
        report = admin.report(settings(), sessions(), plugin_id)
    except PluginDbError as exc:
        _fail(exc, as_json)
    if as_json:
        emit(report.to_json(), True)
        return
    colour = {"completed": "green", "pending": "yellow", "rolled_back": "cyan"}
    rows = [
        [
            v.version,
            v.name,
            f"[{colour.get(v.state, 'red')}]{v.state}[/]",
            v.row.executed_at if v.row else None,
            v.row.execution_time_ms if v.row else None,
            v.row.error if v.row else None,
        ]
        for v in report.versions
    ]
    columns = ["version", "name", "state", "executed", "ms", "error"]
    out.print(_table(f"migrations {plugin_id}", columns, rows))
    out.print(f"set checksum: {report.set_checksum}")


@migrations_app.command("repair")
def migrations_repair(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Accept changed files of applied versions and mark failed versions pending again."""
    try:
        handle = admin.open_plugin(settings(), sessions(), plugin_id)
        result = admin.repair(handle)
    except PluginDbError as exc:
        _fail(exc, as_json)
    human = (
        f"repaired {plugin_id}: re-checksummed {', '.join(result['rechecksummed']) or 'none'}; "
        f"pending again {', '.join(result['reset_failed']) or 'none'}"
    )
    if result["missing_files"]:
        human += f"; history without a file: {', '.join(result['missing_files'])}"
    emit(result, as_json, human)


@migrations_app.command("baseline")
def migrations_baseline(plugin_id: str, version: str, as_json: bool = JsonOpt) -> None:
    """Adopt an existing schema at VERSION: record every version up to it without running it."""
    try:
        handle = admin.open_plugin(settings(), sessions(), plugin_id)
        result = admin.baseline(handle, version)
    except PluginDbError as exc:
        _fail(exc, as_json)
    adopted = ", ".join(result["adopted"]) or "nothing (already applied)"
    emit(result, as_json, f"baselined {plugin_id} at {version}: adopted {adopted}")


@migrations_app.command("verify")
def migrations_verify(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """Prove the migrations reversible on a scratch database (UP, DOWN, UP); exit 1 if not."""
    config = settings()
    try:
        with sessions()() as session:
            ds = session.get(PluginDatasource, plugin_id)
        manifest = gate.plugin_manifest(config.plugins_root, plugin_id, ds)
        if manifest is None:
            raise RequestRejected("no manifest", [f"{plugin_id}: no plugin.json and none stored"])
        recorded = (ds.target or ds.provider) if ds is not None else None
        mode = manifest.database.mode.value
        provider = Targets.from_settings(config).provider_for(recorded, mode)
        files = gate.plugin_files(config.plugins_root, manifest)
        verdict = verify.verify(files, provider, provider.namespace(spec_for(manifest)))
    except PluginDbError as exc:
        _fail(exc, as_json)
    details = verdict.to_json()
    details["differences"] = details["differences"][:100]
    with sessions().begin() as session:
        audit.record(session, "migrations_verified", plugin_id=plugin_id, actor="cli", **details)
    lines = [f"  {d}" for d in verdict.differences]
    head = "[green]reversible[/green]" if verdict.ok else "[red]not reversible[/red]"
    emit(
        {"plugin_id": plugin_id, **verdict.to_json()},
        as_json,
        "\n".join([f"{plugin_id}: {head} ({len(verdict.versions)} versions)", *lines]),
    )
    if not verdict.ok:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Attach ``plugin-db migrations ...``."""
    app.add_typer(migrations_app, name="migrations")

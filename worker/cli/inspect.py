"""Commands that read the tracking tables (their work is in :mod:`worker.cli.show`)."""

from __future__ import annotations

import typer

from worker.cli import show
from worker.cli.common import JsonOpt
from worker.states import OpState


def info(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """The datasource descriptor (never a password)."""
    show.info(plugin_id, as_json)


def ops(
    plugin: str | None = typer.Option(None, "--plugin", help="Only this plugin."),
    state: OpState | None = typer.Option(None, "--state", help="Only this state."),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JsonOpt,
) -> None:
    """Lifecycle operations, newest first."""
    show.operations(plugin, state.value if state else None, limit, as_json)


def op(op_id: int, as_json: bool = JsonOpt) -> None:
    """One operation with every step, its timing and attempt."""
    show.operation(op_id, as_json)


def audit_trail(
    plugin_id: str, limit: int = typer.Option(200, "--limit"), as_json: bool = JsonOpt
) -> None:
    """The plugin's audit trail, oldest first."""
    show.audit(plugin_id, limit, as_json)


def register(app: typer.Typer) -> None:
    """Attach the read commands."""
    for command in (info, ops, op):
        app.command()(command)
    app.command("audit")(audit_trail)

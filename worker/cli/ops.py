"""Operator commands: ``doctor`` (what is wrong, and what to do) and ``retry``."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from worker.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    JsonOpt,
    WaitOpt,
    console,
    emit,
    exit_code,
    fail,
    human_outcome,
    op_json,
    out,
    sessions,
    settings,
    wait_for,
)
from worker.errors import RetryRefused, UnknownPlugin
from worker.ops.doctor import Doctor, Report
from worker.ops.findings import Severity
from worker.ops.retry import RESUME_TASK, reset

PROGRESS_FROM = 5
"""Show a progress bar from this many plugins on (never with --json)."""
_STYLE = {Severity.OK: "green", Severity.WARNING: "yellow", Severity.ERROR: "red"}


def render(report: Report) -> Table:
    """The findings as a table, problems first."""
    table = Table(title="plugin-db doctor", show_lines=False)
    for column in ("plugin", "severity", "check", "message", "fix"):
        table.add_column(column, overflow="fold")
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.OK: 2}
    for f in sorted(report.findings, key=lambda f: (order[f.severity], f.plugin_id or "")):
        style = _STYLE[f.severity]
        table.add_row(
            f.plugin_id or "-",
            f"[{style}]{f.severity.value}[/{style}]",
            f.check,
            f.message,
            f.fix or "",
        )
    return table


def doctor(
    plugin: str | None = typer.Option(None, "--plugin", help="Only this plugin (no orphan scan)."),
    as_json: bool = JsonOpt,
) -> None:
    """Health, size against limits, drift, orphans and stuck or failed operations.

    Exit status 1 when anything needs attention (a warning or an error).
    """
    doc = Doctor(settings(), sessions())
    bar: Any = nullcontext()
    task: list[Any] = []
    if not as_json and console.is_terminal:
        bar = Progress(
            TextColumn("checking {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )

    def progress(index: int, total: int, plugin_id: str) -> None:
        if not isinstance(bar, Progress) or total < PROGRESS_FROM:
            return
        if not task:
            task.append(bar.add_task(plugin_id, total=total))
        bar.update(task[0], completed=index, description=plugin_id)

    try:
        with bar:
            report = doc.run(plugin, progress=progress)
    except UnknownPlugin:
        fail(f"no datasource for {plugin!r} (or it is deleted)", EXIT_BAD_INPUT, as_json)
    if as_json:
        emit(report.to_json(), True)
    else:
        out.print(render(report))
        colour = "red" if any(f.severity == Severity.ERROR for f in report.problems) else "yellow"
        out.print(f"[{colour if report.problems else 'green'}]{report.summary}[/]")
    raise typer.Exit(EXIT_FAILED if report.problems else EXIT_OK)


def retry(op_id: int, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Put a failed operation back to pending and resume it from its failed step."""
    from worker.celery_app import create_app

    try:
        op = reset(sessions(), op_id)
    except RetryRefused as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    result = create_app(settings()).send_task(RESUME_TASK, args=[{"operation_id": op_id}])
    if not wait:
        emit(
            {"operation_id": op_id, "state": op.state, "task_id": result.id},
            as_json,
            f"operation {op_id} ({op.kind} {op.plugin_id}) is pending again; "
            f"resuming after step {op.current_step or '-'}",
        )
        return
    done = wait_for(op.request_id, as_json)
    emit(op_json(done), as_json, human_outcome(done))
    raise typer.Exit(exit_code(done))


def register(app: typer.Typer) -> None:
    """Attach ``doctor`` and ``retry``."""
    app.command()(doctor)
    app.command()(retry)

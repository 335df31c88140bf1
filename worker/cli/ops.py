"""Operator commands: ``doctor`` (what is wrong, and what to do) and ``retry``."""

from __future__ import annotations

import typer

from worker.cli import show
from worker.cli.common import (
    EXIT_BAD_INPUT,
    JsonOpt,
    WaitOpt,
    emit,
    exit_code,
    fail,
    human_outcome,
    op_json,
    sessions,
    settings,
    wait_for,
)
from worker.errors import RetryRefused


def doctor(
    plugin: str | None = typer.Option(None, "--plugin", help="Only this plugin (no orphan scan)."),
    as_json: bool = JsonOpt,
) -> None:
    """Health, size against limits, drift, orphans and stuck or failed operations.

    Exit status 1 when anything needs attention (a warning or an error).
    """
    show.doctor(plugin, as_json)


def retry(op_id: int, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Put a failed operation back to pending and resume it from its failed step."""
    from worker.celery_app import create_producer
    from worker.cli.producer import writable
    from worker.ops.retry import RESUME_TASK, reset

    writable(as_json)
    try:
        op = reset(sessions(), op_id)
    except RetryRefused as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    result = create_producer(settings()).send_task(RESUME_TASK, args=[{"operation_id": op_id}])
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

"""Shared CLI plumbing: settings, output (human or --json), enqueue and wait."""

from __future__ import annotations

import json
import sys
import time
import uuid
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from worker.errors import RequestRejected
from worker.settings import Settings
from worker.states import TERMINAL, Kind, OpState

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session, sessionmaker

    from worker.tracking.models import LifecycleOperation


if TYPE_CHECKING:
    console: Console
    out: Console
_CONSOLES = {"console": True, "out": False}
"""Module attribute -> whether that Console writes to stderr."""


def __getattr__(name: str) -> Any:
    """``console`` (stderr) and ``out`` (stdout): rich Consoles made on first use, so a
    ``--json`` read never imports rich."""
    if name not in _CONSOLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console(stderr=_CONSOLES[name])
    globals()[name] = made
    return made


def _stream(name: str) -> Console:
    found: Console = globals().get(name) or __getattr__(name)
    return found


JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
WaitOpt = typer.Option(False, "--wait", help="Wait for the outcome; exit status follows it.")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


@cache
def settings() -> Settings:
    """Settings from the environment."""
    return Settings.from_env()


@cache
def sessions() -> sessionmaker[Session]:
    """Sessions on the tracking database."""
    from worker.tracking.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings().database_url))


def print_json(data: Any) -> None:
    """``data`` as indented JSON: highlighted by rich on a terminal, plain text otherwise."""
    if sys.stdout.isatty():
        _stream("out").print_json(json.dumps(data, default=str))
    else:
        print(json.dumps(data, default=str, indent=2, ensure_ascii=False))


def emit(data: Any, as_json: bool, human: str | None = None) -> None:
    """Print ``data`` as JSON, or ``human`` text."""
    if as_json:
        print_json(data)
    elif human is not None:
        _stream("out").print(human)


def fail(message: str, code: int = EXIT_BAD_INPUT, as_json: bool = False) -> NoReturn:
    """Print an error and exit with ``code``."""
    if as_json:
        print_json({"error": message})
    else:
        _stream("console").print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True)
    raise typer.Exit(code)


def enqueue(kind: Kind, request: dict[str, Any], wait: bool, as_json: bool) -> None:
    """Record the request as a pending operation, send its public task, optionally wait.

    The operation is recorded before the message is sent, so a message lost by the broker
    is re-sent by the reconciler; bad input exits 2 and records nothing.
    """
    from worker.celery_app import create_app
    from worker.lifecycle.service import LifecycleService
    from worker.lifecycle.submit import submit

    request = {"request_id": f"cli-{uuid.uuid4()}", "requested_by": "cli", **request}
    try:
        op, _ = submit(LifecycleService(settings()), create_app(settings()), kind, request)
    except RequestRejected as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    if not wait:
        emit(
            {"operation_id": op.id, "task_id": op.task_id, "request_id": op.request_id},
            as_json,
            f"enqueued {kind.task_name} for {op.plugin_id} "
            f"(operation {op.id}, request {op.request_id})",
        )
        return
    op = wait_for(op.request_id, as_json)
    emit(op_json(op), as_json, human_outcome(op))
    raise typer.Exit(exit_code(op))


def wait_for(request_id: str, as_json: bool, timeout: float = 600.0) -> LifecycleOperation:
    """Poll the tracking database until the operation for ``request_id`` is terminal."""
    from sqlalchemy import select

    from worker.tracking.models import LifecycleOperation

    deadline = time.monotonic() + timeout
    status = (
        None
        if as_json or not sys.stderr.isatty()
        else _stream("console").status("waiting for the worker")
    )
    if status:
        status.start()
    try:
        while time.monotonic() < deadline:
            with sessions()() as session:
                op: LifecycleOperation | None = session.scalars(
                    select(LifecycleOperation).where(LifecycleOperation.request_id == request_id)
                ).first()
            if op is not None and op.state in TERMINAL:
                return op
            if status and op is not None:
                status.update(
                    f"operation {op.id} {op.kind}: {op.state}, step {op.current_step or '-'}"
                )
            time.sleep(0.1)
    finally:
        if status:
            status.stop()
    fail(
        f"no outcome for request {request_id} within {timeout:.0f}s (is a worker running?)",
        EXIT_FAILED,
        as_json,
    )


def exit_code(op: Any) -> int:
    """Exit status of an operation's outcome (contract section 4)."""
    return {OpState.SUCCEEDED: EXIT_OK, OpState.REJECTED: EXIT_BAD_INPUT}.get(
        OpState(op.state), EXIT_FAILED
    )


def op_json(op: Any) -> dict[str, Any]:
    """An operation as JSON (no secret is ever stored in one)."""
    return {
        "operation_id": op.id,
        "plugin_id": op.plugin_id,
        "kind": op.kind,
        "state": op.state,
        "current_step": op.current_step,
        "steps": op.steps,
        "request_id": op.request_id,
        "requested_by": op.requested_by,
        "attempts": op.attempts,
        "crashes": op.crashes,
        "error": op.error,
        "result": op.result,
        "created_at": op.created_at,
        "finished_at": op.finished_at,
    }


def human_outcome(op: Any) -> str:
    """One line per step, then the outcome."""
    lines = [f"  {s['name']:<20} {s['status']:<8} {s['ms']:>8.1f} ms" for s in op.steps]
    if op.result and op.result.get("dry_run"):
        from worker.cli.lintview import dry_run_lines

        lines += dry_run_lines(op.result)
    colour = {"succeeded": "green", "rejected": "yellow"}.get(op.state, "red")
    lines.append(
        f"[{colour}]operation {op.id} {op.kind} {op.plugin_id}: {op.state}[/{colour}]"
        + (f" - {op.error}" if op.error else "")
    )
    return "\n".join(lines)

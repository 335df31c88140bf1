"""Shared CLI plumbing: settings, output (human or --json), enqueue and wait."""

from __future__ import annotations

import sys
import time
import uuid
from functools import cache
from typing import TYPE_CHECKING, Any

import typer

from worker.cli import output
from worker.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    emit,
    exit_code,
    fail,
    human_outcome,
    op_json,
    print_json,
    settings,
)
from worker.errors import RequestRejected
from worker.states import TERMINAL, Kind

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session, sessionmaker

    from worker.tracking.models import LifecycleOperation

    console: Console
    out: Console

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "JsonOpt", "WaitOpt", "emit", "enqueue"]
__all__ += ["exit_code", "fail", "human_outcome", "op_json", "print_json", "sessions"]
__all__ += ["settings", "wait_for"]


def __getattr__(name: str) -> Any:
    """``console`` (stderr) and ``out`` (stdout): :mod:`worker.cli.output`'s, made on first use."""
    return getattr(output, name)


JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
WaitOpt = typer.Option(False, "--wait", help="Wait for the outcome; exit status follows it.")


@cache
def sessions() -> sessionmaker[Session]:
    """Sessions on the tracking database."""
    from worker.tracking.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings().database_url))


def enqueue(kind: Kind, request: dict[str, Any], wait: bool, as_json: bool) -> None:
    """Record the request as a pending operation, send its public task, optionally wait.

    The operation is recorded before the message is sent, so a message lost by the broker
    is re-sent by the reconciler; bad input exits 2 and records nothing.
    """
    from worker.cli import producer
    from worker.lifecycle.submit import submit

    request = {"request_id": f"cli-{uuid.uuid4()}", "requested_by": "cli", **request}
    try:
        op, _ = submit(producer.service(), producer.celery(), kind, request)
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
        else output.stream("console").status("waiting for the worker")
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

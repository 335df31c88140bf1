"""The enqueueing commands' work, without Typer: build the request, record it, send it.

``plugin-db provision/migrate/rotate/teardown/restore/relocate`` in their plain forms run
from here before Typer is imported (:mod:`worker.cli.fast`); the Typer commands of
:mod:`worker.cli.lifecycle` call the same functions. A failure exits through ``SystemExit``.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    emit,
    exit_code,
    fail,
    human_outcome,
    op_json,
    sessions,
    settings,
    stream,
)
from worker.errors import RequestRejected, TrackingOutOfDate, TrackingUnavailable
from worker.states import TERMINAL, Kind

if TYPE_CHECKING:
    from worker.tracking.models import LifecycleOperation


def provision(path: Path, target: str | None, wait: bool, as_json: bool) -> None:
    """Enqueue provision for a plugin folder (or its plugin.json) inside the plugins root."""
    from worker.manifest import load_manifest_bytes

    manifest_file = path / "plugin.json" if path.is_dir() else path
    try:
        manifest = load_manifest_bytes(manifest_file.read_bytes())
    except OSError as exc:
        fail(f"cannot read {manifest_file}: {exc.strerror}", EXIT_BAD_INPUT, as_json)
    except RequestRejected as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    expected = settings().plugins_root / manifest.id
    if manifest_file.resolve().parent != expected.resolve():
        fail(
            f"{manifest_file} is not in the plugins root: copy the folder to {expected} "
            "(or set PLUGIN_DB_PLUGINS_ROOT)",
            EXIT_BAD_INPUT,
            as_json,
        )
    request = {"plugin_id": manifest.id, **({"target": target} if target else {})}
    enqueue(Kind.PROVISION, request, wait, as_json)


def migrate(
    plugin_id: str, target: str | None, flags: tuple[bool, bool], wait: bool, as_json: bool
) -> None:
    """Enqueue migrate of one plugin (``flags``: dry run, force)."""
    dry_run, force = flags
    request: dict[str, object] = {"plugin_id": plugin_id, "dry_run": dry_run, "force": force}
    if target is not None:
        request["target"] = target
    enqueue(Kind.MIGRATE, request, wait, as_json)


def teardown(plugin_id: str, purge: bool, snapshot: bool, wait: bool, as_json: bool) -> None:
    """Enqueue teardown (archive unless ``purge``)."""
    request = {"plugin_id": plugin_id, "purge": purge, "snapshot": snapshot}
    enqueue(Kind.TEARDOWN, request, wait, as_json)


def relocate(
    plugin_id: str, mode: str | None, target: str | None, wait: bool, as_json: bool
) -> None:
    """Enqueue a move of the plugin to another target or mode."""
    request: dict[str, object] = {"plugin_id": plugin_id}
    request.update({k: v for k, v in (("mode", mode), ("target", target)) if v is not None})
    enqueue(Kind.RELOCATE, request, wait, as_json)


def enqueue(kind: Kind, request: dict[str, Any], wait: bool, as_json: bool) -> None:
    """Record the request as a pending operation, send its public task, optionally wait.

    The operation is recorded before the message is sent, so a message lost by the broker
    is re-sent by the reconciler; bad input exits 2 and records nothing.
    """
    from worker.cli import producer

    request = {"request_id": f"cli-{uuid.uuid4()}", "requested_by": "cli", **request}
    try:
        op, _ = producer.submit(kind, request)
    except RequestRejected as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    except (TrackingOutOfDate, TrackingUnavailable) as exc:  # one line, as the reads say it
        fail(str(exc), EXIT_FAILED, as_json)
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
    raise SystemExit(exit_code(op))


def wait_for(request_id: str, as_json: bool, timeout: float = 600.0) -> LifecycleOperation:
    """Poll the tracking database until the operation for ``request_id`` is terminal."""
    from sqlalchemy import select

    from worker.tracking.models import LifecycleOperation

    deadline = time.monotonic() + timeout
    status = (
        None
        if as_json or not sys.stderr.isatty()
        else stream("console").status("waiting for the worker")
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

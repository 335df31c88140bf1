"""The reads' work, without Typer: ``info``, ``ops``, ``op``, ``audit`` and ``doctor``.

Typer's commands (:mod:`worker.cli.inspect`, :mod:`worker.cli.ops`) and the early dispatch
(:mod:`worker.cli.fast`) both call these. They read through the database driver alone
(:mod:`worker.cli.reads`) and exit through ``SystemExit`` with the command's status.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from worker.cli import output
from worker.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    emit,
    fail,
    human_outcome,
    op_json,
    settings,
)
from worker.cli.reads import Reader, reader
from worker.errors import TrackingOutOfDate, TrackingUnavailable, UnknownPlugin

if TYPE_CHECKING:
    from rich.table import Table

    from worker.ops.doctor import Doctor, Report

T = TypeVar("T")
PROGRESS_FROM = 5
"""``doctor`` shows a progress bar from this many plugins on (never with --json)."""


@contextmanager
def reading(as_json: bool) -> Iterator[Reader]:
    """A reader on the tracking database; one line and exit 1 when it cannot answer."""
    try:
        with reader(settings().database_url) as found:
            yield found
    except (TrackingOutOfDate, TrackingUnavailable) as exc:
        fail(str(exc), EXIT_FAILED, as_json)


def _read(as_json: bool, query: Callable[[Reader], T]) -> T:
    with reading(as_json) as found:
        return query(found)


def table(title: str, columns: list[str], rows: list[list[Any]], **options: Any) -> Table:
    """A rich table of text cells (None shown empty)."""
    from rich.table import Table

    made = Table(title=title, **options)
    for column in columns:
        made.add_column(column, overflow="fold")  # whole values, wrapped, never cut
    for row in rows:
        made.add_row(*("" if v is None else str(v) for v in row))
    return made


def info(plugin_id: str, as_json: bool) -> None:
    """The datasource descriptor (never a password)."""
    found = _read(as_json, lambda r: r.datasource(plugin_id))
    if found is None:
        fail(f"no datasource for {plugin_id!r}", EXIT_BAD_INPUT, as_json)
    ds = SimpleNamespace(**found)
    data = {
        "plugin_id": ds.plugin_id,
        "mode": ds.mode,
        "provider": ds.provider,
        "target": ds.target or ds.provider,
        "driver": ds.provider,
        "status": ds.status,
        "descriptor": ds.descriptor,
        "rotated_at": ds.rotated_at,
        "archived_at": ds.archived_at,
        "next_rotation_at": ds.next_rotation_at,
        "updated_at": ds.updated_at,
    }
    if as_json:
        emit(data, True)
        return
    from rich.table import Table

    shown = Table(title=f"datasource {ds.plugin_id}", show_header=False)
    shown.add_column("field", style="bold")
    shown.add_column("value", overflow="fold")
    for key, value in flatten(data):
        shown.add_row(key, "" if value is None else str(value))
    output.stream("out").print(shown)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``a.b`` rows, so the descriptor reads as a table, not a dict."""
    if not isinstance(data, dict):
        return [(prefix, data)]
    if not data:
        return [(prefix, "-")] if prefix else []
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return rows


def pairs(details: Any) -> str:
    """An audit event's details as ``key=value`` text (nested values as JSON)."""
    if not isinstance(details, dict):
        return "" if details is None else str(details)
    plain = (str, int, float, bool, type(None))
    return ", ".join(
        f"{k}={v if isinstance(v, plain) else json.dumps(v, default=str, ensure_ascii=False)}"
        for k, v in details.items()
    )


def operations(plugin: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """Lifecycle operations, newest first."""
    found = [
        SimpleNamespace(**r) for r in _read(as_json, lambda r: r.operations(plugin, state, limit))
    ]
    if as_json:
        emit([op_json(o) for o in found], True)
        return
    columns = ["id", "plugin", "kind", "state", "step", "attempts", "error"]
    cells = [
        [o.id, o.plugin_id, o.kind, o.state, o.current_step, o.attempts, o.error] for o in found
    ]
    output.stream("out").print(table("operations", columns, cells))


def operation(op_id: int, as_json: bool) -> None:
    """One operation with every step, its timing and attempt."""
    found = _read(as_json, lambda r: r.operation(op_id))
    if found is None:
        fail(f"no operation {op_id}", EXIT_BAD_INPUT, as_json)
    row = SimpleNamespace(**found)
    emit(op_json(row), as_json, human_outcome(row))


def audit(plugin_id: str, limit: int, as_json: bool) -> None:
    """The plugin's audit trail, oldest first."""
    rows = [SimpleNamespace(**e) for e in _read(as_json, lambda r: r.audit(plugin_id, limit))]
    if as_json:
        keys = ("id", "timestamp", "operation_id", "event", "actor", "details")
        emit([{k: getattr(e, k) for k in keys} for e in rows], True)
        return
    columns = ["time", "op", "event", "actor", "details"]
    cells = [[e.timestamp, e.operation_id, e.event, e.actor, pairs(e.details)] for e in rows]
    output.stream("out").print(table(f"audit {plugin_id}", columns, cells))


def doctor(plugin: str | None, as_json: bool) -> None:
    """Run the doctor (one plugin, or everything) and exit 1 if anything needs attention."""
    from worker.ops.doctor import Doctor
    from worker.ops.findings import Severity

    with reading(as_json) as rows:
        try:
            report = _checked(Doctor(settings(), rows=rows), plugin, as_json)
        except UnknownPlugin:
            fail(f"no datasource for {plugin!r} (or it is deleted)", EXIT_BAD_INPUT, as_json)
    if as_json:
        emit(report.to_json(), True)
    else:
        out = output.stream("out")
        out.print(render(report))
        colour = "red" if any(f.severity == Severity.ERROR for f in report.problems) else "yellow"
        out.print(f"[{colour if report.problems else 'green'}]{report.summary}[/]")
    raise SystemExit(EXIT_FAILED if report.problems else EXIT_OK)


def _checked(doc: Doctor, plugin: str | None, as_json: bool) -> Report:
    """Run the doctor, with a progress bar on a terminal (never with --json)."""
    bar: Any = nullcontext()
    task: list[Any] = []
    if not as_json and output.stream("console").is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        columns = (TextColumn("checking {task.description}"), BarColumn(), MofNCompleteColumn())
        bar = Progress(*columns, console=output.stream("console"), transient=True)

    def progress(index: int, total: int, plugin_id: str) -> None:
        if isinstance(bar, nullcontext) or total < PROGRESS_FROM:
            return
        if not task:
            task.append(bar.add_task(plugin_id, total=total))
        bar.update(task[0], completed=index, description=plugin_id)

    with bar:
        return doc.run(plugin, progress=progress)


def render(report: Report) -> Table:
    """The doctor's findings as a table, problems first."""
    from rich.table import Table

    from worker.ops.findings import Severity

    style = {Severity.OK: "green", Severity.WARNING: "yellow", Severity.ERROR: "red"}
    shown = Table(title="plugin-db doctor", show_lines=False)
    for column in ("plugin", "severity", "check", "message", "fix"):
        shown.add_column(column, overflow="fold")
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.OK: 2}
    for f in sorted(report.findings, key=lambda f: (order[f.severity], f.plugin_id or "")):
        colour = style[f.severity]
        shown.add_row(
            f.plugin_id or "-",
            f"[{colour}]{f.severity.value}[/{colour}]",
            f.check,
            f.message,
            f.fix or "",
        )
    return shown

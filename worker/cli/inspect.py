"""Commands that read the tracking tables (on the database driver alone: worker.cli.reads)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from worker.cli import common
from worker.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    JsonOpt,
    emit,
    fail,
    human_outcome,
    op_json,
    settings,
)
from worker.cli.reads import Reader, reader
from worker.errors import TrackingOutOfDate, TrackingUnavailable
from worker.states import OpState

if TYPE_CHECKING:
    from rich.table import Table

T = TypeVar("T")


@contextmanager
def _reading(as_json: bool) -> Iterator[Reader]:
    """A reader on the tracking database; one line and exit 1 when it cannot answer."""
    try:
        with reader(settings().database_url) as found:
            yield found
    except (TrackingOutOfDate, TrackingUnavailable) as exc:
        fail(str(exc), EXIT_FAILED, as_json)


def _read(as_json: bool, query: Callable[[Reader], T]) -> T:
    with _reading(as_json) as found:
        return query(found)


def _datasource(plugin_id: str, as_json: bool) -> SimpleNamespace:
    ds = _read(as_json, lambda r: r.datasource(plugin_id))
    if ds is None:
        fail(f"no datasource for {plugin_id!r}", EXIT_BAD_INPUT, as_json)
    return SimpleNamespace(**ds)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def info(plugin_id: str, as_json: bool = JsonOpt) -> None:
    """The datasource descriptor (never a password)."""
    ds = _datasource(plugin_id, as_json)
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

    table = Table(title=f"datasource {ds.plugin_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in _flatten(data):
        table.add_row(key, "" if value is None else str(value))
    common.out.print(table)


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``a.b`` rows, so the descriptor reads as a table, not a dict."""
    if not isinstance(data, dict):
        return [(prefix, data)]
    if not data:
        return [(prefix, "-")] if prefix else []
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        rows += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return rows


def ops(
    plugin: str | None = typer.Option(None, "--plugin", help="Only this plugin."),
    state: OpState | None = typer.Option(None, "--state", help="Only this state."),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JsonOpt,
) -> None:
    """Lifecycle operations, newest first."""
    found = _read(as_json, lambda r: r.operations(plugin, state.value if state else None, limit))
    rows = [SimpleNamespace(**row) for row in found]
    if as_json:
        emit([op_json(o) for o in rows], True)
        return
    common.out.print(
        _table(
            "operations",
            ["id", "plugin", "kind", "state", "step", "attempts", "error"],
            [
                [o.id, o.plugin_id, o.kind, o.state, o.current_step, o.attempts, o.error]
                for o in rows
            ],
        )
    )


def op(op_id: int, as_json: bool = JsonOpt) -> None:
    """One operation with every step, its timing and attempt."""
    found = _read(as_json, lambda r: r.operation(op_id))
    if found is None:
        fail(f"no operation {op_id}", EXIT_BAD_INPUT, as_json)
    row = SimpleNamespace(**found)
    emit(op_json(row), as_json, human_outcome(row))


def audit_trail(
    plugin_id: str, limit: int = typer.Option(200, "--limit"), as_json: bool = JsonOpt
) -> None:
    """The plugin's audit trail, oldest first."""
    rows = [SimpleNamespace(**e) for e in _read(as_json, lambda r: r.audit(plugin_id, limit))]
    data = [
        {
            "id": e.id,
            "timestamp": e.timestamp,
            "operation_id": e.operation_id,
            "event": e.event,
            "actor": e.actor,
            "details": e.details,
        }
        for e in rows
    ]
    if as_json:
        emit(data, True)
        return
    common.out.print(
        _table(
            f"audit {plugin_id}",
            ["time", "op", "event", "actor", "details"],
            [[e.timestamp, e.operation_id, e.event, e.actor, e.details] for e in rows],
        )
    )


def register(app: typer.Typer) -> None:
    """Attach the read commands."""
    for command in (info, ops, op):
        app.command()(command)
    app.command("audit")(audit_trail)

"""``plugin-db targets``: the configured targets, their drivers, modes and plugin counts."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from providers.targets import DIMENSIONS, Target, Targets
from worker.cli.common import EXIT_BAD_INPUT, JsonOpt, emit, fail, out, sessions, settings
from worker.errors import PluginDbError
from worker.states import DsStatus
from worker.tracking.models import PluginDatasource, TargetUsage

targets_app = typer.Typer(
    help="Targets: the database servers plugins live on.", no_args_is_help=True
)


def plugin_counts() -> dict[str, int]:
    """Target name → plugins that live there (any status but deleted)."""
    where = func.coalesce(PluginDatasource.target, PluginDatasource.provider)
    query = (
        select(where, func.count())
        .where(PluginDatasource.status != DsStatus.DELETED.value)
        .group_by(where)
    )
    with sessions()() as session:
        return {str(name): int(count) for name, count in session.execute(query).all()}


def usage() -> dict[str, dict[str, Any]]:
    """Target name → what placement reserved there per dimension (and a state override)."""
    with sessions()() as session:
        return {
            row.target: {**{d: int(getattr(row, d)) for d in DIMENSIONS}, "state": row.state}
            for row in session.scalars(select(TargetUsage))
        }


def dimensions(target: Target, used: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per dimension: used, capacity (None: unbounded) and percent of capacity."""
    found = {}
    for dim in DIMENSIONS:
        cap = target.capacity.get(dim)
        value = used.get(dim, 0)
        percent = round(100 * value / cap, 1) if cap else None
        found[dim] = {"used": value, "capacity": cap, "percent": percent}
    return found


def target_rows(
    targets: Targets, counts: dict[str, int], used: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One JSON object per target (never its admin URL: it may carry a password)."""
    rows = []
    for target in targets.targets.values():
        modes = sorted(targets.driver_class(target).modes)
        rows.append(
            {
                "name": target.name,
                "driver": target.driver,
                "modes": modes,
                "state": (used or {}).get(target.name, {}).get("state") or target.state,
                "plugins": counts.get(target.name, 0),
                "labels": dict(target.labels),
                "capacity": dict(target.capacity),
                "usage": dimensions(target, (used or {}).get(target.name, {})),
            }
        )
    return rows


def _cell(use: dict[str, Any]) -> str:
    if use["capacity"] is None:
        return str(use["used"])
    return f"{use['used']}/{use['capacity']} ({use['percent']}%)"


@targets_app.command("list")
def targets_list(as_json: bool = JsonOpt) -> None:
    """Each target, its driver, modes, state, plugins and usage against capacity."""
    try:
        rows = target_rows(Targets.from_settings(settings()), plugin_counts(), usage())
    except PluginDbError as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    if as_json:
        emit(rows, True)
        return
    table = Table(title="targets")
    for column in ("target", "driver", "modes", "state", *DIMENSIONS, "labels"):
        table.add_column(column)
    for row in rows:
        use = row["usage"]
        labels = ", ".join(f"{k}={v}" for k, v in sorted(row["labels"].items()))
        table.add_row(
            row["name"],
            row["driver"],
            ", ".join(row["modes"]),
            row["state"],
            *(_cell(use[d]) for d in DIMENSIONS),
            labels,
        )
    out.print(table)


@targets_app.command("drain")
def targets_drain(
    name: str,
    parallel: int = typer.Option(4, "--parallel", min=1, max=64, help="Relocations at once."),
    as_json: bool = JsonOpt,
) -> None:
    """Mark a target draining and relocate every plugin on it elsewhere (placement chooses)."""
    from worker.ops.drain import drain

    try:
        report = drain(settings(), name, parallel, None if as_json else out.print)
    except PluginDbError as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    emit(report, as_json, f"{name}: {report['moved']} moved, {len(report['failed'])} failed")
    if report["failed"] or report["left"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach ``plugin-db targets``."""
    app.add_typer(targets_app, name="targets")

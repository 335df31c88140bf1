"""``plugin-db targets``: the configured targets, their drivers, modes and plugin counts."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from providers.targets import Targets
from worker.cli.common import EXIT_BAD_INPUT, JsonOpt, emit, fail, out, sessions, settings
from worker.errors import PluginDbError
from worker.states import DsStatus
from worker.tracking.models import PluginDatasource

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


def target_rows(targets: Targets, counts: dict[str, int]) -> list[dict[str, Any]]:
    """One JSON object per target (never its admin URL: it may carry a password)."""
    rows = []
    for target in targets.targets.values():
        modes = sorted(targets.driver_class(target).modes)
        rows.append(
            {
                "name": target.name,
                "driver": target.driver,
                "modes": modes,
                "plugins": counts.get(target.name, 0),
                "labels": dict(target.labels),
                "capacity": target.capacity,
            }
        )
    return rows


@targets_app.command("list")
def targets_list(as_json: bool = JsonOpt) -> None:
    """Each target, its driver, the modes it serves and how many plugins it holds."""
    try:
        rows = target_rows(Targets.from_settings(settings()), plugin_counts())
    except PluginDbError as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    if as_json:
        emit(rows, True)
        return
    table = Table(title="targets")
    for column in ("target", "driver", "modes", "plugins", "capacity"):
        table.add_column(column)
    for row in rows:
        cells = (
            row["name"],
            row["driver"],
            ", ".join(row["modes"]),
            row["plugins"],
            row["capacity"],
        )
        table.add_row(*("" if v is None else str(v) for v in cells))
    out.print(table)


def register(app: typer.Typer) -> None:
    """Attach ``plugin-db targets``."""
    app.add_typer(targets_app, name="targets")

"""The plugin's datasource row as steps write it: one statement per change, no flush.

A step's transaction starts from the row as the run last committed it (``StepContext.hold``);
a change is written at once with one statement and set on that object as its stored value, so
the unit of work has nothing to flush at commit.
"""

from __future__ import annotations

from functools import cache
from types import EllipsisType
from typing import Any, cast

from sqlalchemy import Table, bindparam, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from worker.lifecycle.context import StepContext
from worker.lifecycle.rows import stored_row
from worker.states import DsStatus, check_ds
from worker.tracking.direct import Direct
from worker.tracking.models import PluginDatasource, utcnow

__all__ = ["set_status", "write"]


def set_status(
    session: Session,
    ctx: StepContext,
    status: DsStatus,
    /,
    current: PluginDatasource | EllipsisType | None = ...,
    **values: Any,
) -> PluginDatasource:
    """Move the plugin's datasource along its state machine (creating the row if needed).

    ``current``: the row as the caller read it in ``session`` (read here if not given).
    """
    ds = ctx.datasource(session) if isinstance(current, EllipsisType) else current
    check_ds(DsStatus(ds.status) if ds else None, status)
    values = {"status": status.value, **values}
    if ds is None:
        ds = ctx.created = _insert(session, ctx.plugin_id, values)
    elif inspect(ds).persistent:
        _update(session, ds, values)  # the status is written even if unchanged: a new stamp
    else:
        write(session, ds, **values)
    return ds


def write(session: Session, ds: PluginDatasource, **values: Any) -> None:
    """Set ``values`` on ``ds``: for a stored row, the ones that differ in one UPDATE now
    (none if none differs, as a flush would); else written when the session flushes."""
    if not inspect(ds).persistent:
        for key, value in values.items():
            setattr(ds, key, value)
        return
    changed = {key: value for key, value in values.items() if getattr(ds, key) != value}
    if changed:
        _update(session, ds, changed)


def _new_row() -> dict[str, Any]:
    """What a new datasource row holds besides its plugin, status and the caller's values."""
    return {
        "descriptor": {},
        "manifest": {},
        "secrets_ref": None,
        "rotated_at": None,
        "next_rotation_at": None,
        "archived_at": None,
        "generation": 1,
        "target": None,
    }


def _insert(session: Session, plugin_id: str, values: dict[str, Any]) -> PluginDatasource:
    """Insert ``plugin_id``'s row with one Core INSERT now; the row, attached to ``session``
    as stored (the unit of work has nothing to flush for it)."""
    now = utcnow()
    row = {**_new_row(), **values, "plugin_id": plugin_id, "created_at": now, "updated_at": now}
    _INSERT_DS.run(session.connection(), row)
    ds = stored_row(row)
    session.add(ds)
    return ds


def _update(session: Session, ds: PluginDatasource, values: dict[str, Any]) -> None:
    """Write ``values`` to ``ds``'s row with one Core UPDATE now, and set them on ``ds`` as
    its stored values."""
    values = {**values, "updated_at": utcnow()}
    params = {f"v_{key}": value for key, value in values.items()}
    _update_statement(tuple(values)).run(session.connection(), {"pid": ds.plugin_id, **params})
    for key, value in values.items():
        set_committed_value(ds, key, value)


_INSERT_DS = Direct(cast(Table, PluginDatasource.__table__).insert())


@cache
def _update_statement(keys: tuple[str, ...]) -> Direct:
    table = cast(Table, PluginDatasource.__table__)
    return Direct(
        update(table)
        .where(table.c.plugin_id == bindparam("pid"))
        .values({key: bindparam(f"v_{key}") for key in keys})
    )

"""Undo a relocation that failed before its switch: the source writable, the destination gone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from providers.targets import Targets
from worker import placement
from worker.errors import PluginDbError
from worker.lifecycle.relocate import SWITCHED, row_of
from worker.tracking.models import PluginSecret


def abort(targets: Targets, sessions: Any, op_id: int, spec: Any) -> str | None:
    """Undo a relocation that failed before its switch: source writable, destination gone."""
    with sessions() as session:
        row = row_of(session, op_id)
    if row is None or row.state == SWITCHED:
        return None
    problems = []
    try:
        targets.provider(row.source_target).set_read_only(spec, False)
    except NotImplementedError:
        pass
    except PluginDbError as exc:
        problems.append(f"source writable again: {exc}")
    try:
        targets.provider(row.dest_target).purge(spec)
    except PluginDbError as exc:
        problems.append(f"destination removal: {exc}")
    with sessions() as session, session.begin():
        placement.release(session, row.plugin_id, row.dest_target)
        live = row_of(session, op_id)
        if live is not None:
            live.state = "failed"
            ref = live.detail.get("dest_secrets_ref")
            if ref:
                session.execute(delete(PluginSecret).where(PluginSecret.id == ref))
    return "; ".join(problems) or None

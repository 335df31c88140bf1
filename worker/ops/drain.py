"""``plugin-db targets drain NAME``: mark a target draining and move its plugins elsewhere.

Placement stops choosing the target (its state is overridden in ``target_usage``), then every
plugin on it is relocated (``plugin_db.relocate`` with no target: placement picks among the
others), at most ``parallel`` at once. Each outcome is reported as it arrives.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from providers.targets import Targets
from worker import placement
from worker.states import TERMINAL, DsStatus, Kind, OpState
from worker.tracking.db import make_engine, make_sessionmaker
from worker.tracking.models import LifecycleOperation, PluginDatasource

Say = Callable[[str], object] | None


def plugins_on(sessions: Any, target: str) -> list[str]:
    """Plugins that live on ``target`` (any status but deleted)."""
    where = func.coalesce(PluginDatasource.target, PluginDatasource.provider)
    query = select(PluginDatasource.plugin_id).where(
        where == target, PluginDatasource.status != DsStatus.DELETED.value
    )
    with sessions() as session:
        return sorted(session.scalars(query))


def drain(settings: Any, name: str, parallel: int, say: Say) -> dict[str, Any]:
    """Relocate every plugin off ``name``; {"moved", "failed": [{plugin_id, error}], "left"}."""
    from worker.celery_app import create_producer
    from worker.lifecycle.service import LifecycleService
    from worker.lifecycle.submit import submit

    Targets.from_settings(settings).get(name)  # UnknownTarget for a name not configured
    sessions = make_sessionmaker(make_engine(settings.database_url))
    placement.set_state(sessions, name, "draining")
    todo, running = plugins_on(sessions, name), dict[int, str]()
    service, celery = LifecycleService(settings), create_producer(settings)
    total, moved, failed = len(todo), 0, []
    while todo or running:
        while todo and len(running) < parallel:
            plugin_id = todo.pop(0)
            request = {"plugin_id": plugin_id, "request_id": f"drain-{uuid.uuid4()}"}
            try:
                op, _ = submit(service, celery, Kind.RELOCATE, {**request, "requested_by": "drain"})
            except Exception as exc:  # a refusal is one failure: the drain goes on
                failed.append({"plugin_id": plugin_id, "error": str(exc)})
                continue
            running[op.id] = plugin_id
        time.sleep(0.2)
        for op_id, plugin_id in list(running.items()):
            with sessions() as session:
                row = session.get(LifecycleOperation, op_id)
            if row is None or row.state not in TERMINAL:
                continue
            del running[op_id]
            if row.state == OpState.SUCCEEDED.value:
                moved += 1
            else:
                failed.append({"plugin_id": plugin_id, "error": row.error or row.state})
            if say is not None:
                done = moved + len(failed)
                say(f"[{done}/{total}] {plugin_id}: {row.state} {row.error or ''}".rstrip())
    left = plugins_on(sessions, name)
    return {"target": name, "moved": moved, "failed": failed, "left": left}

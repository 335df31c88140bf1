"""Inserting an accepted operation: with its placement reservation in the same transaction,
and leased at once to the process that accepted it when that process runs it next."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from worker import placement
from worker.errors import PlacementRefused
from worker.lifecycle import rows
from worker.lifecycle.requests import Request
from worker.lifecycle.rows import Seen
from worker.lifecycle.store import Op, OperationStore
from worker.states import Kind


def insert(
    store: OperationStore,
    kind: Kind,
    request: Request,
    ids: tuple[str, str],
    placing: placement.Placing | None,
    *,
    run_here: bool,
) -> tuple[Op, Seen | None]:
    """Insert the operation of ``request`` (``ids``: task id, request id); (row, its rows).

    ``placing``: the new plugin's reservation, made in the insert's transaction (tried again
    when the targets moved meanwhile). With ``run_here`` the row comes back leased to this
    process when it may run at once (``lease_owner`` set), and the plugin's rows are read in
    the same transaction (None: the row is not leased to this process).
    """
    task_id, request_id = ids
    seen: Seen = {}
    values = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    for _ in range(placement.attempts(placing.pool) if placing else 1):
        try:
            op, created = store.insert(
                kind=kind,
                plugin_id=request.plugin_id,
                request_id=request_id,
                request=values,
                actor=request.requested_by,
                task_id=task_id,
                before=placing,
                run_here=rows.prefetch(seen) if run_here else None,
            )
        except placement.Again as again:
            placement.prepare(store.sessions, again)
            continue
        except IntegrityError:  # a concurrent placement of the plugin: read again
            if placing is None:
                raise
            continue
        ours = created and run_here and op.lease_owner is not None
        return op, seen if ours else None
    raise PlacementRefused("no target has room", ["placement: targets filled concurrently"])

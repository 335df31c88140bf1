"""``plugin-db retry``: put a failed operation back to pending so a worker resumes it.

The operation keeps its completed steps (``lifecycle_operations.steps``), so the resumed run
starts at the step that failed. The state change is one conditional UPDATE (``WHERE
state = 'failed'``, version bumped): two operators retrying at once make one retry.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker import audit
from worker.errors import RetryRefused
from worker.states import OpState, check_op
from worker.tracking.models import LifecycleOperation, utcnow

Op = LifecycleOperation
RESUME_TASK = "plugin_db.resume"


def reset(sessions: sessionmaker[Session], op_id: int, actor: str = "cli") -> Op:
    """Move failed operation ``op_id`` back to pending (error cleared) and audit it."""
    with sessions.begin() as session:
        op = session.get(Op, op_id)
        if op is None:
            raise RetryRefused(f"no operation {op_id}")
        if op.state != OpState.FAILED:
            raise RetryRefused(
                f"operation {op_id} is {op.state}, not failed: only a failed operation is "
                "retried (send a new request instead)"
            )
        check_op(OpState.FAILED, OpState.PENDING)
        later = session.scalar(
            select(func.min(Op.id)).where(
                Op.plugin_id == op.plugin_id, Op.id > op_id, Op.state != OpState.REJECTED.value
            )
        )
        if later is not None:
            raise RetryRefused(
                f"operation {later} on {op.plugin_id} was accepted after {op_id}: retrying "
                f"{op_id} now would run out of order; send a new {op.kind} request instead"
            )
        previous_error, now = op.error, utcnow()
        statement = (
            update(Op)
            .execution_options(synchronize_session=False)
            .where(Op.id == op_id, Op.state == OpState.FAILED.value, Op.version == op.version)
            .values(
                state=OpState.PENDING.value,
                error=None,
                finished_at=None,
                lease_owner=None,
                lease_expires_at=None,
                crashes=0,
                version=Op.version + 1,
                updated_at=now,
            )
        )
        result = cast("CursorResult[Any]", session.execute(statement))
        if result.rowcount != 1:
            raise RetryRefused(f"operation {op_id} changed meanwhile; look again with plugin-db op")
        audit.record(
            session,
            "operation_retried",
            plugin_id=op.plugin_id,
            operation_id=op_id,
            actor=actor,
            kind=op.kind,
            previous_error=previous_error,
            resumes_after=op.current_step,
        )
    with sessions() as session:
        fresh = session.get(Op, op_id)
    assert fresh is not None
    return fresh

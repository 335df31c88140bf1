"""``plugin-db retry``: put a failed operation back to pending so a worker resumes it.

The operation keeps its completed steps (``lifecycle_operations.steps``), so the resumed run
starts at the step that failed. The state change is the operation store's
(:meth:`~worker.lifecycle.store.OperationStore.retry`), the only writer of operation state.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from worker.lifecycle.store import OperationStore
from worker.tracking.models import LifecycleOperation

RESUME_TASK = "plugin_db.resume"


def reset(sessions: sessionmaker[Session], op_id: int, actor: str = "cli") -> LifecycleOperation:
    """Move failed operation ``op_id`` back to pending (error cleared) and audit it."""
    return OperationStore(sessions, lease_seconds=0).retry(op_id, actor)

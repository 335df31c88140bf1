"""A worker's hold on an operation (its lease), as the operation store hands it out."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.states import OpState
from worker.tracking.models import LifecycleOperation


@dataclass
class Claim:
    """A worker's hold on an operation: its lease owner token and the version it last wrote."""

    op_id: int
    owner: str
    version: int
    op: LifecycleOperation | None = None
    """The row as claimed (state running, attempts counted), so the caller need not reread it."""
    state: OpState = OpState.RUNNING
    """The state this worker last wrote; every move from it is checked (OP_TRANSITIONS)."""


def new_owner() -> str:
    """A lease owner token unique to this run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

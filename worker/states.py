"""State machines as data: states, operation kinds and their explicit transition tables."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from worker.errors import InvalidTransition


class OpState(StrEnum):
    """``lifecycle_operations.state``."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


TERMINAL = frozenset({OpState.SUCCEEDED, OpState.FAILED, OpState.REJECTED})
UNFINISHED = frozenset({OpState.PENDING, OpState.RUNNING})
"""Operation states not yet final ("active" is a storage state and nothing else)."""
ACTIVE = UNFINISHED
"""Deprecated name of :data:`UNFINISHED`, kept for code written against it."""


class DsStatus(StrEnum):
    """``plugin_datasources.status``."""

    PROVISIONING = "provisioning"
    READY = "ready"
    MIGRATING = "migrating"
    ROTATING = "rotating"
    ARCHIVED = "archived"
    DELETED = "deleted"
    FAILED = "failed"


class Kind(StrEnum):
    """Kinds of lifecycle operation; the value is the public task name's suffix."""

    PROVISION = "provision"
    MIGRATE = "migrate"
    ROTATE = "rotate_credentials"
    TEARDOWN = "teardown"
    RESTORE = "restore"
    REGISTER_SCHEMA = "register_schema"
    UNREGISTER_SCHEMA = "unregister_schema"
    RELOCATE = "relocate"
    RETIRE = "retire_credentials"
    RESTORE_SNAPSHOT = "restore_snapshot"
    SNAPSHOT = "snapshot"

    @property
    def task_name(self) -> str:
        """The public Celery task name."""
        return f"plugin_db.{self.value}"


OP_TRANSITIONS: Mapping[OpState, frozenset[OpState]] = {
    OpState.PENDING: frozenset({OpState.RUNNING, OpState.REJECTED, OpState.FAILED}),
    OpState.RUNNING: frozenset({OpState.RUNNING, OpState.SUCCEEDED, OpState.FAILED}),
    OpState.FAILED: frozenset({OpState.PENDING}),  # an operator retry
    OpState.SUCCEEDED: frozenset(),
    OpState.REJECTED: frozenset(),
}

_ANY_LIVE = frozenset(
    {DsStatus.PROVISIONING, DsStatus.READY, DsStatus.MIGRATING, DsStatus.ROTATING, DsStatus.FAILED}
)
DS_TRANSITIONS: Mapping[DsStatus | None, frozenset[DsStatus]] = {
    None: frozenset({DsStatus.PROVISIONING}),
    DsStatus.PROVISIONING: frozenset({DsStatus.PROVISIONING, DsStatus.READY, DsStatus.FAILED}),
    DsStatus.READY: frozenset(
        {
            DsStatus.PROVISIONING,
            DsStatus.MIGRATING,
            DsStatus.ROTATING,
            DsStatus.ARCHIVED,
            DsStatus.DELETED,
        }
    ),
    DsStatus.MIGRATING: frozenset({DsStatus.MIGRATING, DsStatus.READY, DsStatus.FAILED}),
    DsStatus.ROTATING: frozenset({DsStatus.ROTATING, DsStatus.READY}),
    DsStatus.ARCHIVED: frozenset({DsStatus.ARCHIVED, DsStatus.READY, DsStatus.DELETED}),
    DsStatus.DELETED: frozenset({DsStatus.PROVISIONING, DsStatus.DELETED}),
    DsStatus.FAILED: _ANY_LIVE | frozenset({DsStatus.ARCHIVED, DsStatus.DELETED}),
}


def check_op(current: OpState, target: OpState) -> OpState:
    """Return ``target`` if an operation may move there from ``current``."""
    if target not in OP_TRANSITIONS[current]:
        raise InvalidTransition(f"operation cannot go from {current.value} to {target.value}")
    return target


def check_ds(current: DsStatus | None, target: DsStatus) -> DsStatus:
    """Return ``target`` if a datasource may move there from ``current`` (None: no row yet)."""
    if target not in DS_TRANSITIONS[current]:
        shown = current.value if current else "absent"
        raise InvalidTransition(f"datasource cannot go from {shown} to {target.value}")
    return target

"""Claiming an operation: one conditional UPDATE ... RETURNING, and the reads that say why not.

The claim takes the lease only if the operation is unfinished, the oldest unfinished one of
its plugin, and unleased (or its lease expired); the version moves with it, so any write made
under an older claim fails its fence.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Table,
    bindparam,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from worker.errors import PluginBusy
from worker.lifecycle.lease import Claim, new_owner
from worker.states import UNFINISHED, OpState
from worker.tracking.db import hold_key
from worker.tracking.direct import Direct
from worker.tracking.models import LifecycleOperation as Op

OPS = cast(Table, Op.__table__)


def _unfinished() -> ColumnElement[bool]:
    """``state IN ('pending', 'running')`` with one fixed parameter per state: compiled once,
    where an expanding IN would be rendered again at every execution."""
    return Op.state.in_([literal(state.value) for state in sorted(UNFINISHED)])


_UNFINISHED_OF = select(Op.id).where(Op.plugin_id == bindparam("plugin_id"), _unfinished()).limit(1)


def owner_at_insert(session: Session, plugin_id: str) -> str | None:
    """A lease owner for an operation of ``plugin_id`` being inserted in ``session``, if it
    may be leased at once: nothing else of the plugin is unfinished (so it is the oldest).

    The check is serialized with every other such insert of the plugin (``hold_key``); on a
    database that cannot, None (the operation is claimed later, as usual).
    """
    if not hold_key(session, f"operation:{plugin_id}"):
        return None
    busy = session.connection().scalar(_UNFINISHED_OF, {"plugin_id": plugin_id})
    return None if busy is not None else new_owner()


def leased(owner: str, expires: datetime) -> dict[str, Any]:
    """A new row's values as a claim leaves them: running, leased to ``owner``, version 1."""
    return {
        "state": OpState.RUNNING.value,
        "lease_owner": owner,
        "lease_expires_at": expires,
        "attempts": 1,
        "crashes": 0,
        "version": 1,
    }


@cache
def _claim() -> Any:
    """The claim as one statement, built once (its values are bound parameters)."""
    same_plugin = select(Op.plugin_id).where(Op.id == bindparam("c_id")).scalar_subquery()
    oldest = (
        select(func.min(Op.id)).where(Op.plugin_id == same_plugin, _unfinished()).scalar_subquery()
    )
    return (
        update(Op)
        .execution_options(synchronize_session=False)
        .where(
            Op.id == bindparam("c_id"),
            Op.id == oldest,
            _unfinished(),
            (Op.lease_owner.is_(None)) | (Op.lease_expires_at < bindparam("c_now")),
        )
        .values(
            state=OpState.RUNNING.value,
            lease_owner=bindparam("c_owner"),
            lease_expires_at=bindparam("c_expires"),
            attempts=Op.attempts + 1,
            crashes=Op.crashes + case((Op.lease_owner.is_not(None), 1), else_=0),
            version=Op.version + 1,
            updated_at=bindparam("c_now"),
        )
        .returning(Op)
    )


def take(session: Session, op_id: int, owner: str, now: datetime, lease: timedelta) -> Op | None:
    """Claim ``op_id`` if it is the plugin's oldest unfinished operation and unleased."""
    params = {"c_id": op_id, "c_now": now, "c_owner": owner, "c_expires": now + lease}
    return session.scalars(_claim(), params).one_or_none()


@cache
def fence(keys: tuple[str, ...]) -> Direct:
    """The fenced UPDATE setting ``keys`` (bound as ``v_<key>``), built once per key set.

    It matches only while the claim's version, owner and unexpired lease are the row's.
    """
    c = OPS.c
    return Direct(
        OPS.update()
        .where(
            c.id == bindparam("f_id"),
            c.version == bindparam("f_version"),
            c.lease_owner == bindparam("f_owner"),
            c.lease_expires_at > bindparam("f_now"),
        )
        .values({**{key: bindparam(f"v_{key}") for key in keys}, "version": c.version + 1})
    )


def slow(session: Session, op_id: int, owner: str, now: datetime, lease: timedelta) -> Claim | None:
    """Why the one-statement claim took nothing (or a claim after all, if it changed)."""
    op = session.get(Op, op_id)
    if op is None or op.state not in UNFINISHED:
        return None
    unfinished = (Op.plugin_id == op.plugin_id) & Op.state.in_(UNFINISHED)
    first = session.scalar(select(func.min(Op.id)).where(unfinished))
    if first != op_id:
        raise PluginBusy(f"operation {first} on {op.plugin_id} runs first")
    crashed, expected = op.lease_owner is not None, op.version
    statement = (
        update(Op)
        .execution_options(synchronize_session=False)
        .where(
            Op.id == op_id,
            Op.version == expected,
            Op.state.in_(UNFINISHED),
            (Op.lease_owner.is_(None)) | (Op.lease_expires_at < now),
        )
        .values(
            state=OpState.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=Op.attempts + 1,
            crashes=Op.crashes + (1 if crashed else 0),
            version=Op.version + 1,
            updated_at=now,
        )
    )
    result = cast("CursorResult[Any]", session.execute(statement))
    if result.rowcount != 1:
        raise PluginBusy(f"operation {op_id} is held by another worker")
    session.refresh(op)
    session.expunge(op)
    return Claim(op_id, owner, expected + 1, op)

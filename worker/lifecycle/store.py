"""Operation rows: accept, claim with a lease, fenced writes, finish.

A worker claims an operation with a conditional UPDATE (state, lease and version checked in
the WHERE clause). Every later write first bumps the version under the same conditions, so a
worker whose lease expired, or that another worker overtook, cannot overwrite newer state.
No row lock is held across a provider call: each write is its own short transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from worker import audit
from worker.errors import LeaseLost, RetryRefused
from worker.lifecycle import claiming
from worker.lifecycle.lease import Claim, Heartbeats, aware, new_owner
from worker.states import UNFINISHED, Kind, OpState, check_op
from worker.tracking.db import read_sessions, tracking_errors
from worker.tracking.models import LifecycleOperation, utcnow

Op = LifecycleOperation
_INSERT_OP = cast(Table, Op.__table__).insert()
_NEW_OP: dict[str, Any] = {
    "current_step": None,
    "steps": [],
    "attempts": 0,
    "crashes": 0,
    "version": 0,
    "lease_owner": None,
    "lease_expires_at": None,
    "result": {},
}
"""What a new operation row holds besides its request (every column is written)."""
_BY_REQUEST = select(Op.id).where(Op.request_id == bindparam("request_id")).limit(1)


class OperationStore:
    """Reads and writes ``lifecycle_operations`` under the lease protocol."""

    def __init__(self, sessions: sessionmaker[Session], lease_seconds: float) -> None:
        self.sessions = sessions
        self.reads = read_sessions(sessions)
        self.lease = timedelta(seconds=lease_seconds)
        self.beats = Heartbeats(self.heartbeat, max(lease_seconds / 3, 0.1))

    def get(self, op_id: int) -> Op | None:
        """The operation row (detached snapshot)."""
        with tracking_errors(), self.reads() as session:
            return session.get(Op, op_id)

    def by_request_id(self, request_id: str) -> Op | None:
        """The operation accepted for ``request_id``, if any."""
        with tracking_errors(), self.reads() as session:
            return session.scalars(select(Op).where(Op.request_id == request_id)).first()

    @staticmethod
    def find_request(session: Session, request_id: str) -> int | None:
        """The id of the operation accepted for ``request_id``, if any, in ``session``."""
        return session.connection().scalar(_BY_REQUEST, {"request_id": request_id})

    def insert(
        self,
        *,
        kind: Kind,
        plugin_id: str,
        request_id: str,
        request: dict[str, Any],
        actor: str | None,
        task_id: str | None,
        rejection: str | None = None,
        before: Callable[[Session], object] | None = None,
        run_here: Callable[[Session, Op], None] | None = None,
    ) -> tuple[Op, bool]:
        """Insert an operation (pending, or rejected); returns (row, created).

        ``before(session)`` runs in the same transaction after the row and its audit event
        (a placement reservation: the target's usage row it locks is held only until commit;
        the migration analyses the request's validation parsed).
        With ``run_here`` the operation is inserted already leased to this process (running,
        ``lease_owner`` set) when nothing else of its plugin is unfinished, and
        ``run_here(session, row)`` runs in the transaction: the claim costs no transaction
        of its own when the worker that accepts a request runs it.
        """
        now = utcnow()
        state = OpState.REJECTED if rejection else OpState.PENDING
        values: dict[str, Any] = {
            **_NEW_OP,
            "plugin_id": plugin_id,
            "kind": kind.value,
            "state": state.value,
            "request": request,
            "request_id": request_id,
            "requested_by": actor,
            "task_id": task_id,
            "error": rejection,
            "finished_at": now if rejection else None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with tracking_errors(), self.sessions.begin() as session:
                owner = claiming.owner_at_insert(session, plugin_id) if run_here else None
                if owner is not None:
                    values |= claiming.leased(owner, now + self.lease)
                # one Core INSERT; the row handed back is built from the same values
                done = session.connection().execute(_INSERT_OP, values)
                row = Op(id=cast(Any, done.inserted_primary_key)[0], **values)
                event = "request_rejected" if rejection else "operation_accepted"
                details = {"error": rejection} if rejection else {}
                audit.record(
                    session,
                    event,
                    plugin_id=plugin_id,
                    operation_id=row.id,
                    actor=actor,
                    kind=kind.value,
                    request_id=request_id,
                    **details,
                )
                if before is not None:  # late: a target's usage row stays locked until commit
                    before(session)
                if owner is not None and run_here is not None:
                    run_here(session, row)
            return row, True
        except IntegrityError:
            existing = self.by_request_id(request_id)
            if existing is None:
                raise
            return existing, False

    def claim(self, op_id: int, then: Callable[[Session, Op], None] | None = None) -> Claim | None:
        """Take the lease on a runnable operation; None if it is already terminal.

        Raises PluginBusy while an older operation on the same plugin is unfinished or
        while another live worker holds this one's lease. The usual case is one statement
        (a conditional UPDATE ... RETURNING); the reads that say why are made only when it
        claims nothing. ``then(session, op)`` runs in the claim's transaction once claimed
        (the run's reads of other rows).
        """
        owner, now = new_owner(), utcnow()
        with tracking_errors(), self.sessions.begin() as session:
            op = claiming.take(session, op_id, owner, now, self.lease)
            if op is not None:
                session.expunge(op)
                claim: Claim | None = Claim(op_id, owner, op.version, op)
            else:
                claim = claiming.slow(session, op_id, owner, now, self.lease)
            if claim is not None and claim.op is not None and then is not None:
                then(session, claim.op)
            return claim

    @contextmanager
    def fenced(self, claim: Claim, **values: Any) -> Iterator[Session]:
        """A transaction that first proves the lease is still ours (and extends it).

        A ``state`` among ``values`` must be a move the transition table allows from the
        claim's state: InvalidTransition otherwise.
        """
        moved = check_op(claim.state, OpState(values["state"])) if "state" in values else None
        now = utcnow()
        values = {"lease_expires_at": now + self.lease, **values, "updated_at": now}
        statement = claiming.fence(tuple(values))
        params = {f"v_{key}": value for key, value in values.items()}
        params.update(f_id=claim.op_id, f_version=claim.version, f_owner=claim.owner, f_now=now)
        with tracking_errors(), self.sessions.begin() as session:
            if statement.run(session.connection(), params) != 1:
                raise LeaseLost(f"operation {claim.op_id}: lease lost, another worker owns it")
            yield session
        # only once committed: a transaction that fails (a refused write, a lost connection)
        # rolls the version back, and the claim must still match it for the next write
        claim.version += 1
        claim.state = moved or claim.state

    def heartbeat(self, claim: Claim) -> bool:
        """Extend the lease of a step still running, without moving the version."""
        now = utcnow()
        statement = (
            update(Op)
            .execution_options(synchronize_session=False)
            .where(
                Op.id == claim.op_id,
                Op.version == claim.version,
                Op.lease_owner == claim.owner,
                Op.lease_expires_at > now,
            )
            .values(lease_expires_at=now + self.lease)
        )
        with tracking_errors(), self.sessions.begin() as session:
            return cast("CursorResult[Any]", session.execute(statement)).rowcount == 1

    @contextmanager
    def keepalive(self, claim: Claim) -> Iterator[None]:
        """Heartbeat the lease every third of its length while a provider call runs."""
        with self.beats.beating(claim):
            yield

    def lease_remaining(self, op_id: int) -> float:
        """Seconds until the operation's lease expires (0 if none)."""
        op = self.get(op_id)
        if op is None or op.lease_expires_at is None:
            return 0.0
        expires = aware(op.lease_expires_at)
        return max(0.0, (expires - utcnow()).total_seconds())

    def stale(self, limit: int = 500, *, min_idle: float | None = None) -> list[int]:
        """Unfinished operations nobody is working on: lease expired, or unclaimed for long.

        ``min_idle`` (seconds, default one lease) is how long an unclaimed operation waits
        before it counts; a starting worker passes 0, since its broker may have lost them all.
        """
        now = utcnow()
        idle = self.lease if min_idle is None else timedelta(seconds=min_idle)
        with tracking_errors(), self.reads() as session:
            query = (
                select(Op.id)
                .where(
                    Op.state.in_(UNFINISHED),
                    (Op.lease_expires_at < now)
                    | (Op.lease_owner.is_(None) & (Op.updated_at <= now - idle)),
                )
                .order_by(Op.id)
                .limit(limit)
            )
            return list(session.scalars(query))

    def retry(self, op_id: int, actor: str) -> Op:
        """Move failed operation ``op_id`` back to pending (error cleared) and audit it.

        One conditional UPDATE (``WHERE state = 'failed'``, version bumped): two operators
        retrying at once make one retry. RetryRefused says why a retry is not possible.
        """
        with tracking_errors(), self.sessions.begin() as session:
            op = session.get(Op, op_id)
            if op is None:
                raise RetryRefused(f"no operation {op_id}")
            if op.state != OpState.FAILED:
                raise RetryRefused(
                    f"operation {op_id} is {op.state}, not failed: only a failed operation is "
                    "retried (send a new request instead)"
                )
            check_op(OpState.FAILED, OpState.PENDING)
            self._refuse_out_of_order(session, op)
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
                    updated_at=utcnow(),
                )
            )
            if cast("CursorResult[Any]", session.execute(statement)).rowcount != 1:
                raise RetryRefused(
                    f"operation {op_id} changed meanwhile; look again with plugin-db op"
                )
            audit.record(
                session,
                "operation_retried",
                plugin_id=op.plugin_id,
                operation_id=op_id,
                actor=actor,
                kind=op.kind,
                previous_error=op.error,
                resumes_after=op.current_step,
            )
        fresh = self.get(op_id)
        assert fresh is not None
        return fresh

    @staticmethod
    def _refuse_out_of_order(session: Session, op: Op) -> None:
        later = session.scalar(
            select(func.min(Op.id)).where(
                Op.plugin_id == op.plugin_id, Op.id > op.id, Op.state != OpState.REJECTED.value
            )
        )
        if later is not None:
            raise RetryRefused(
                f"operation {later} on {op.plugin_id} was accepted after {op.id}: retrying "
                f"{op.id} now would run out of order; send a new {op.kind} request instead"
            )

"""Retiring a rotated-out login: recorded at rotation, retired by a persisted step.

A rotation leaves the previous login valid (both log in, open sessions keep working) and
records a pending :class:`CredentialRetirement`. The first of three triggers retires it: the
platform acknowledges the new generation, no session of the old login remains, or the grace
period (``rotation.graceMinutes``, default 60) ends. Each trigger enqueues the same request id,
so one ``retire_credentials`` operation runs; a rotation asked for meanwhile retires it first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.base import other_slot
from worker import audit
from worker.events.outbox import emit
from worker.lifecycle.context import StepContext
from worker.lifecycle.outcome import Outcome
from worker.lifecycle.requests import RetireRequest
from worker.tracking.models import CredentialRetirement, PluginDatasource, utcnow

DEFAULT_GRACE_MINUTES = 60.0
PENDING, RETIRED = "pending", "retired"


def request_for(retirement: CredentialRetirement, trigger: str, actor: str) -> dict[str, Any]:
    """The ``plugin_db.retire_credentials`` request: one request id per retirement."""
    return {
        "plugin_id": retirement.plugin_id,
        "retirement_id": retirement.id,
        "trigger": trigger,
        "request_id": f"retire:{retirement.plugin_id}:{retirement.id}",
        "requested_by": actor,
    }


def record_pending(
    session: Session, ctx: StepContext, new_slot: str, generation: int | None
) -> None:
    """After a rotation to ``new_slot``: the other login now waits for retirement."""
    rotation = ctx.manifest.database.rotation
    minutes = rotation.grace_minutes if rotation else DEFAULT_GRACE_MINUTES
    old = other_slot(new_slot)
    session.add(
        CredentialRetirement(
            plugin_id=ctx.plugin_id,
            slot=old,
            login=ctx.provider.describe(ctx.spec, old).username,
            generation=generation,
            rotation_operation_id=ctx.op.id,
            grace_until=utcnow() + timedelta(minutes=minutes),
            state=PENDING,
        )
    )


def pending(session: Session, plugin_id: str) -> list[CredentialRetirement]:
    """The plugin's logins waiting for retirement, oldest first."""
    return list(
        session.scalars(
            select(CredentialRetirement)
            .where(
                CredentialRetirement.plugin_id == plugin_id, CredentialRetirement.state == PENDING
            )
            .order_by(CredentialRetirement.id)
        )
    )


def _retire(ctx: StepContext, retirement: CredentialRetirement, trigger: str) -> Outcome:
    """NOLOGIN / ACCOUNT LOCK the login and end its sessions; record it with its event."""
    creds = ctx.credentials()
    active = creds.in_use if creds else None
    detail: dict[str, Any] = {
        "login": retirement.login,
        "slot": retirement.slot,
        "trigger": trigger,
    }
    if retirement.slot == active:  # re-issued by a later rotation: never lock the live login
        detail["reason"] = "the login is active again"
    else:
        ctx.provider.retire_login(ctx.spec, retirement.slot)
    rid = retirement.id

    def apply(session: Session) -> None:
        row = session.get(CredentialRetirement, rid)
        if row is None or row.state != PENDING:
            return
        row.state, row.trigger, row.retired_at = RETIRED, trigger, utcnow()
        ds = session.get(PluginDatasource, ctx.plugin_id)
        gen = getattr(ds, "generation", None)
        audit.record(
            session,
            "credentials_retired",
            plugin_id=ctx.plugin_id,
            operation_id=ctx.op.id,
            actor=ctx.actor,
            **detail,
        )
        emit(
            session,
            type="credentials.retired",
            plugin_id=ctx.plugin_id,
            operation_id=ctx.op.id,
            generation=gen if isinstance(gen, int) else None,
            data={"login": retirement.login, "trigger": trigger},
        )

    return Outcome(detail=detail, apply=apply)


def retire_previous(ctx: StepContext) -> Outcome:
    """Before a rotation: retire the login still waiting, so at most two are ever valid."""
    with ctx.store.sessions() as session:
        waiting = pending(session, ctx.plugin_id)
    if not waiting:
        return Outcome(status="skipped", detail={"reason": "no login waiting for retirement"})
    outcome = Outcome(detail={"retired": []})
    applies = []
    for retirement in waiting:
        step = _retire(ctx, retirement, "rotation")
        outcome.detail["retired"].append(retirement.login)
        applies.append(step.apply)

    def apply(session: Session) -> None:
        for each in applies:
            if each is not None:
                each(session)

    outcome.apply = apply
    return outcome


def retire_login(ctx: StepContext) -> Outcome:
    """The ``retire_credentials`` operation's step: retire the requested login if still due."""
    request = ctx.request
    assert isinstance(request, RetireRequest)
    with ctx.store.sessions() as session:
        retirement = session.get(CredentialRetirement, request.retirement_id)
    if retirement is None or retirement.plugin_id != ctx.plugin_id:
        return Outcome(status="skipped", detail={"reason": "no such retirement for this plugin"})
    if retirement.state != PENDING:
        return Outcome(status="skipped", detail={"reason": f"already {retirement.state}"})
    return _retire(ctx, retirement, request.trigger)


def keep_retired(ctx: StepContext) -> Outcome:
    """After a restore (which re-enables the logins): a retired idle login stays retired."""
    creds = ctx.credentials()
    idle = other_slot(creds.in_use if creds else "a")
    with ctx.store.sessions() as session:
        latest = session.scalars(
            select(CredentialRetirement)
            .where(
                CredentialRetirement.plugin_id == ctx.plugin_id, CredentialRetirement.slot == idle
            )
            .order_by(CredentialRetirement.id.desc())
            .limit(1)
        ).first()
    if latest is None or latest.state != RETIRED:
        return Outcome(status="skipped", detail={"reason": "no retired login"})
    ctx.provider.retire_login(ctx.spec, idle)
    return Outcome(detail={"login": latest.login, "slot": idle})


def drop_pending(session: Session, plugin_id: str) -> None:
    """After a purge: the logins are gone, nothing is left to retire."""
    for row in pending(session, plugin_id):
        row.state, row.trigger = "dropped", "purge"


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

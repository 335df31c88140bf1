"""The runner: drives an accepted operation through its steps to an outcome.

Each step's provider work runs outside any tracking transaction; its completion, its tracking
changes and its audit event commit together (fenced by the operation's lease), so a
redelivered message resumes after the last completed step and never repeats one.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from sqlalchemy.orm import Session

from worker import audit, failpoints, metrics
from worker.errors import LeaseLost, PluginDbError, TransientError
from worker.events import hooks
from worker.lifecycle import plans, relocate_undo
from worker.lifecycle.context import UNREAD, StepContext, spec_for
from worker.lifecycle.intake import Intake
from worker.lifecycle.lease import Claim
from worker.lifecycle.outcome import Outcome, Step
from worker.lifecycle.requests import REQUEST_MODELS
from worker.lifecycle.rows import Held, Seen
from worker.lifecycle.store import OperationStore
from worker.logging import get_logger, redact_text
from worker.manifest import parse_manifest
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.states import DS_TRANSITIONS, DsStatus, Kind, OpState
from worker.tracking.models import LifecycleOperation, PluginDatasource, utcnow

log = get_logger("lifecycle")


class Runner:
    """Runs operations; their manifests, targets and folders come from the intake."""

    def __init__(
        self, settings: Settings, store: OperationStore, box: SecretBox, intake: Intake
    ) -> None:
        self.settings, self.store, self.box, self.intake = settings, store, box, intake

    def run(self, op_id: int, *, final_attempt: bool = False) -> dict[str, Any]:
        """Drive an operation until it succeeds or fails; raises TransientError to be retried."""
        held = self.intake.take_held(op_id)  # leased when this process accepted it
        seen: Seen = held.seen if held is not None else {}
        # else the plugin's rows are read in the claim's transaction
        claim = (
            held.claim if held is not None else self.store.claim(op_id, self.intake.prefetch(seen))
        )
        if claim is None:
            return self.summary(op_id)
        op = claim.op
        assert op is not None
        with structlog.contextvars.bound_contextvars(plugin_id=op.plugin_id, operation_id=op_id):
            if op.crashes >= self.settings.max_attempts:
                self._fail(claim, op, f"gave up: the worker was lost {op.crashes} times running it")
            else:
                self._drive(claim, op, final_attempt, (seen, held))
        if claim.state in (OpState.SUCCEEDED, OpState.FAILED):  # committed by this run
            return self.describe(op)
        return self.summary(op_id)

    def _drive(
        self,
        claim: Claim,
        op: LifecycleOperation,
        final_attempt: bool,
        known: tuple[Seen, Held | None],
    ) -> None:
        try:
            ctx = self._context(op, claim, known)
            done = {s["name"] for s in op.steps}
            todo = [step for step in plans.plan_for(ctx) if step.name not in done]
            for step in todo:
                self._run_step(ctx, step, last=step is todo[-1])
            if not todo:  # every step was recorded before a crash: only the outcome is missing
                with self.store.fenced(ctx.claim, **self._succeeded(ctx)) as session:
                    self._audit_success(session, ctx)
        except LeaseLost:
            log.warning("lease_lost", operation_id=op.id)
            raise
        except TransientError as exc:
            if final_attempt:
                self._fail(claim, op, f"retries exhausted: {exc}")
                return
            self._release(claim, op, exc)
            raise
        except PluginDbError as exc:
            self._fail(claim, op, str(exc))
        except Exception as exc:
            log.exception("operation_crashed", operation_id=op.id)
            self._fail(claim, op, f"{type(exc).__name__}: {exc}")

    def _context(
        self, op: LifecycleOperation, claim: Claim, known: tuple[Seen, Held | None]
    ) -> StepContext:
        kind, (seen, held) = Kind(op.kind), known
        manifest = held.manifest_if_current() if held is not None else None
        request = held.request if held is not None else None
        if manifest is None or request is None:  # else as the accept in this process saw them
            request = REQUEST_MODELS[kind].model_validate(op.request)
        with self.intake.reading_once(seen):
            manifest = manifest or self.intake.manifest_for(kind, request)
            target = self.intake.target_of(request, manifest)
        return StepContext(
            op=op,
            claim=claim,
            store=self.store,
            request=request,
            manifest=manifest,
            provider=self.intake.provider(target),
            settings=self.settings,
            box=self.box,
            plugin_dir=self.intake.plugin_dir(op.plugin_id),
            target=target,
            targets=self.intake.targets,
            row=seen[op.plugin_id].ds if op.plugin_id in seen else UNREAD,
        )

    def _run_step(self, ctx: StepContext, step: Step, *, last: bool) -> None:
        points, started = self.settings.failpoints, time.monotonic()
        failpoints.hit(points, f"before:{step.name}", ctx.plugin_id)
        with self.store.keepalive(ctx.claim):
            outcome = step.run(ctx)
        failpoints.hit(points, f"after:{step.name}", ctx.plugin_id)
        event = self._record(ctx, step, started, outcome)
        self._complete(ctx, step, outcome, [event], last=last)

    @staticmethod
    def _record(ctx: StepContext, step: Step, started: float, outcome: Outcome) -> audit.Event:
        """Add the step's record to the operation; its audit event."""
        ms = round((time.monotonic() - started) * 1000, 2)
        record = {
            "name": step.name,
            "status": outcome.status,
            "attempt": ctx.op.attempts,
            "finished_at": utcnow().isoformat(),
            "ms": ms,
            "detail": outcome.detail,
        }
        ctx.op.steps = [*ctx.op.steps, record]
        metrics.step_finished(ctx.op.kind, step.name, outcome.status, ms)
        event = f"step_{outcome.status}"
        details = {"step": step.name, **outcome.detail}
        return audit.Event(event, ctx.plugin_id, ctx.op.id, ctx.actor, details)

    def _complete(
        self,
        ctx: StepContext,
        step: Step,
        outcome: Outcome,
        events: list[audit.Event],
        *,
        last: bool,
    ) -> None:
        """Commit the step's record (and, after the last step, the outcome) in one
        transaction, with its tracking changes, outbox rows and audit events."""
        outcome_values = self._succeeded(ctx) if last else {}
        try:
            with self.store.fenced(
                ctx.claim, current_step=step.name, steps=ctx.op.steps, **outcome_values
            ) as session:
                held = ctx.hold(session)
                if outcome.apply is not None:
                    outcome.apply(session)
                hooks.after_step(session, ctx, step.name, outcome.status, outcome.detail)
                if last:
                    events.append(self._success_event(ctx))
                    hooks.after_success(session, ctx.op)
                audit.record_many(session, events)
                row = ctx.created or held
        except BaseException:
            ctx.forget_row()
            raise
        ctx.row = row  # committed: the next step starts from it

    @staticmethod
    def _succeeded(ctx: StepContext) -> dict[str, Any]:
        ctx.op.state, ctx.op.error = OpState.SUCCEEDED.value, None
        return {
            "state": OpState.SUCCEEDED.value,
            "finished_at": utcnow(),
            "error": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "result": ctx.result,
        }

    @staticmethod
    def _success_event(ctx: StepContext) -> audit.Event:
        details = {"kind": ctx.op.kind}
        return audit.Event("operation_succeeded", ctx.plugin_id, ctx.op.id, ctx.actor, details)

    def _audit_success(self, session: Session, ctx: StepContext) -> None:
        audit.record_many(session, [self._success_event(ctx)])
        hooks.after_success(session, ctx.op)

    def _release(self, claim: Claim, op: LifecycleOperation, exc: Exception) -> None:
        with self.store.fenced(
            claim, lease_owner=None, lease_expires_at=None, error=redact_text(str(exc))
        ) as s:
            audit.record(
                s,
                "retry_scheduled",
                plugin_id=op.plugin_id,
                operation_id=op.id,
                actor=op.requested_by,
                error=str(exc),
            )

    def _fail(self, claim: Claim, op: LifecycleOperation, error: str) -> None:
        if op.kind == Kind.RELOCATE.value:
            error += self._undo_relocation(op)
        error = redact_text(error)
        try:
            with self.store.fenced(
                claim,
                state=OpState.FAILED.value,
                error=error,
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
            ) as session:
                self._fail_datasource(session, op)
                audit.record(
                    session,
                    "operation_failed",
                    plugin_id=op.plugin_id,
                    operation_id=op.id,
                    actor=op.requested_by,
                    kind=op.kind,
                    error=error,
                )
                hooks.after_failure(session, op, error)
            op.state, op.error = OpState.FAILED.value, error
        except LeaseLost:
            log.warning("lease_lost_on_failure", operation_id=op.id)

    def _undo_relocation(self, op: LifecycleOperation) -> str:
        """Source writable again and destination removed; what could not be undone."""
        with self.store.sessions() as session:
            ds = session.get(PluginDatasource, op.plugin_id)
            manifest = ds.manifest if ds is not None else None
        if not manifest:
            return ""
        spec = spec_for(parse_manifest(manifest))
        left = relocate_undo.abort(self.intake.targets, self.store.sessions, op.id, spec)
        return f" (undo: {left})" if left else ""

    @staticmethod
    def _fail_datasource(session: Session, op: LifecycleOperation) -> None:
        target = plans.FAILURE_STATUS.get(Kind(op.kind))
        ds = session.get(PluginDatasource, op.plugin_id)
        if ds is not None and target is not None and target in DS_TRANSITIONS[DsStatus(ds.status)]:
            ds.status = target.value

    def summary(self, op_id: int) -> dict[str, Any]:
        """The task result: never a secret."""
        op = self.store.get(op_id)
        if op is None:
            return {"operation_id": op_id, "state": "unknown"}
        return self.describe(op)

    @staticmethod
    def describe(op: LifecycleOperation) -> dict[str, Any]:
        """The task result of ``op`` as this process knows it: never a secret."""
        out: dict[str, Any] = {
            "operation_id": op.id,
            "plugin_id": op.plugin_id,
            "kind": op.kind,
            "state": op.state,
        }
        if op.error:
            out["error"] = op.error
        return out

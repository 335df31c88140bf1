"""The lifecycle service: accept a request once, then drive its operation to an outcome."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from providers.base import Provider
from providers.registry import get_provider_class
from worker import audit, failpoints, metrics
from worker.errors import (
    LeaseLost,
    ManifestError,
    MigrationFileError,
    PluginDbError,
    RequestRejected,
    TransientError,
)
from worker.events import hooks
from worker.lifecycle import steps as plans
from worker.lifecycle.context import StepContext
from worker.lifecycle.requests import (
    REQUEST_MODELS,
    RegisterSchemaRequest,
    Request,
    parse_request,
    request_id_of,
)
from worker.lifecycle.store import Claim, OperationStore
from worker.lifecycle.validation import validate_migrations
from worker.logging import get_logger, redact_text, storable
from worker.manifest import (
    UNSTORABLE,
    Manifest,
    load_manifest_bytes,
    parse_manifest,
    unstorable_text,
)
from worker.migrations.files import load_dir
from worker.naming import check_plugin_id
from worker.schema.registry import check_registration
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.states import ACTIVE, DS_TRANSITIONS, DsStatus, Kind, OpState
from worker.tracking.db import make_engine, make_sessionmaker, tracking_errors
from worker.tracking.models import LifecycleOperation, PluginDatasource, utcnow

log = get_logger("lifecycle")


class LifecycleService:
    """Accepts lifecycle requests and runs their operations; one per worker process."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.store = OperationStore(self.sessions, settings.lease_seconds)
        self.box = SecretBox.from_settings(settings)
        self._providers: dict[str, Provider] = {}

    def provider(self, name: str) -> Provider:
        """The driver named ``name``, built once per process."""
        if name not in self._providers:
            self._providers[name] = get_provider_class(name).from_settings(self.settings)
        return self._providers[name]

    def plugin_dir(self, plugin_id: str) -> Path:
        """``<plugins root>/<plugin_id>``, confined to the root."""
        root = self.settings.plugins_root
        folder = (root / check_plugin_id(plugin_id)).resolve()
        if not folder.is_relative_to(root):
            raise ManifestError(
                "plugin folder outside the plugins root", [f"plugin_id: leaves {root}"]
            )
        return folder

    # -- accepting ---------------------------------------------------------------------

    def accept(self, kind: Kind, payload: object, extra: tuple[Any, ...], task_id: str) -> int:
        """Record the request as an operation (or find it by request_id); returns its id."""
        request_id = request_id_of(payload, task_id)
        existing = self.store.by_request_id(request_id)
        if existing is not None:
            return existing.id
        actor = payload.get("requested_by") if isinstance(payload, dict) else None
        plugin_id = payload.get("plugin_id") if isinstance(payload, dict) else None
        shown_id = plugin_id if isinstance(plugin_id, str) and len(plugin_id) <= 64 else "?"
        try:
            request = parse_request(kind, payload, extra)
            self.validate(kind, request)
        except RequestRejected as exc:
            # hostile text (NUL, lone surrogates) is escaped: the rejection must be storable
            op, _ = self.store.insert(
                kind=kind,
                plugin_id=storable(redact_text(shown_id))[:64],
                request_id=request_id,
                request={},
                actor=storable(actor)[:200]
                if isinstance(actor, str) and len(actor) <= 200
                else None,
                task_id=task_id,
                rejection=storable(redact_text(str(exc))),
            )
            return op.id
        op, _ = self.store.insert(
            kind=kind,
            plugin_id=request.plugin_id,
            request_id=request_id,
            request=request.model_dump(mode="json", by_alias=True, exclude_none=True),
            actor=request.requested_by,
            task_id=task_id,
        )
        return op.id

    def validate(self, kind: Kind, request: Request) -> None:
        """Everything that can be checked before a side effect, raising RequestRejected."""
        manifest = self.manifest_for(kind, request)
        if kind in (Kind.PROVISION, Kind.MIGRATE):
            provider = self.provider(manifest.database.driver)
            validate_migrations(self, request, manifest, provider)
            self._storable_migrations(request.plugin_id, manifest)
        if isinstance(request, RegisterSchemaRequest):
            check_registration(self.sessions, request.plugin_id, request.schema_document)

    def _storable_migrations(self, plugin_id: str, manifest: Manifest) -> None:
        """Migration text is recorded in plugin_migrations: refuse NUL before anything runs."""
        folder = self.plugin_dir(plugin_id)
        for file in load_dir(folder / manifest.database.migrations.directory, folder):
            texts = [file.up_sql, file.down_sql, file.name, file.description or ""]
            if unstorable_text(texts, file.filename) is not None:
                raise MigrationFileError(
                    "invalid migration file", [f"{file.filename}: {UNSTORABLE}"]
                )

    def manifest_for(self, kind: Kind, request: Request) -> Manifest:
        """The manifest to work from: the request's, the plugin folder's, or the stored one."""
        inline = getattr(request, "manifest", None)
        ds, pending = self._tracked(request.plugin_id)
        if inline is not None:
            manifest = parse_manifest(inline)
        elif (self.plugin_dir(request.plugin_id) / "plugin.json").is_file():
            raw = (self.plugin_dir(request.plugin_id) / "plugin.json").read_bytes()
            manifest = load_manifest_bytes(raw)
        elif ds is not None and ds.manifest:
            manifest = parse_manifest(ds.manifest)
        elif pending is not None:
            manifest = parse_manifest(pending)
        else:
            where = self.plugin_dir(request.plugin_id) / "plugin.json"
            raise ManifestError(
                "no manifest", [f"manifest: not in the request and {where} does not exist"]
            )
        if manifest.id != request.plugin_id:
            raise ManifestError(
                "manifest mismatch",
                [f"manifest.id: {manifest.id!r} is not plugin_id {request.plugin_id!r}"],
            )
        live = ds is not None and ds.status != DsStatus.DELETED
        if kind is not Kind.PROVISION and not live and pending is None:
            raise RequestRejected(
                "not provisioned",
                [f"plugin_id: {request.plugin_id} has no datasource; provision it first"],
            )
        if live and ds is not None and ds.mode != manifest.database.mode.value:
            raise ManifestError(
                "mode change",
                [
                    f"sovereign.database.mode: {request.plugin_id} uses {ds.mode}; "
                    "tear it down with --purge before changing mode"
                ],
            )
        return manifest

    def _tracked(self, plugin_id: str) -> tuple[PluginDatasource | None, dict[str, Any] | None]:
        with tracking_errors(), self.sessions() as session:
            ds = session.get(PluginDatasource, plugin_id)
            pending = session.scalars(
                select(LifecycleOperation.request)
                .where(
                    LifecycleOperation.plugin_id == plugin_id,
                    LifecycleOperation.kind == Kind.PROVISION.value,
                    LifecycleOperation.state.in_(ACTIVE),
                )
                .order_by(LifecycleOperation.id.desc())
            ).first()
        manifest = pending.get("manifest", {"id": plugin_id}) if pending is not None else None
        return ds, manifest

    # -- running -----------------------------------------------------------------------

    def run(self, op_id: int, *, final_attempt: bool = False) -> dict[str, Any]:
        """Drive an operation until it succeeds or fails; raises TransientError to be retried."""
        claim = self.store.claim(op_id)
        if claim is None:
            return self.summary(op_id)
        op = claim.op
        assert op is not None
        with structlog.contextvars.bound_contextvars(plugin_id=op.plugin_id, operation_id=op_id):
            if op.crashes >= self.settings.max_attempts:
                self._fail(claim, op, f"gave up: the worker was lost {op.crashes} times running it")
                return self.summary(op_id)
            self._drive(claim, op, final_attempt)
        return self.summary(op_id)

    def _drive(self, claim: Claim, op: LifecycleOperation, final_attempt: bool) -> None:
        try:
            ctx = self._context(op, claim)
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

    def _context(self, op: LifecycleOperation, claim: Claim) -> StepContext:
        kind = Kind(op.kind)
        request = REQUEST_MODELS[kind].model_validate(op.request)
        manifest = self.manifest_for(kind, request)
        return StepContext(
            op=op,
            claim=claim,
            store=self.store,
            request=request,
            manifest=manifest,
            provider=self.provider(manifest.database.driver),
            settings=self.settings,
            box=self.box,
            plugin_dir=self.plugin_dir(op.plugin_id),
        )

    def _run_step(self, ctx: StepContext, step: plans.Step, *, last: bool) -> None:
        points, started = self.settings.failpoints, time.monotonic()
        failpoints.hit(points, f"before:{step.name}")
        with self.store.keepalive(ctx.claim):
            outcome = step.run(ctx)
        failpoints.hit(points, f"after:{step.name}")
        self._complete(ctx, step, started, outcome, last=last)

    def _complete(
        self,
        ctx: StepContext,
        step: plans.Step,
        started: float,
        outcome: plans.Outcome,
        *,
        last: bool,
    ) -> None:
        """Record the step (and, after the last one, the outcome) in one transaction."""
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
        outcome_values = self._succeeded(ctx) if last else {}
        with self.store.fenced(
            ctx.claim, current_step=step.name, steps=ctx.op.steps, **outcome_values
        ) as session:
            if outcome.apply is not None:
                outcome.apply(session)
            hooks.after_step(session, ctx, step.name, outcome.status, outcome.detail)
            audit.record(
                session,
                f"step_{outcome.status}",
                plugin_id=ctx.plugin_id,
                operation_id=ctx.op.id,
                actor=ctx.actor,
                step=step.name,
                **outcome.detail,
            )
            if last:
                self._audit_success(session, ctx)

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
    def _audit_success(session: Session, ctx: StepContext) -> None:
        audit.record(
            session,
            "operation_succeeded",
            plugin_id=ctx.plugin_id,
            operation_id=ctx.op.id,
            actor=ctx.actor,
            kind=ctx.op.kind,
        )
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
        except LeaseLost:
            log.warning("lease_lost_on_failure", operation_id=op.id)

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
        out: dict[str, Any] = {
            "operation_id": op.id,
            "plugin_id": op.plugin_id,
            "kind": op.kind,
            "state": op.state,
        }
        if op.error:
            out["error"] = op.error
        return out

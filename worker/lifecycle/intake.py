"""The intake: turns a lifecycle request into an operation row (or a recorded rejection).

Everything that can be checked before a side effect is checked here (the request, the
manifest, the target, the migration files, a schema document); a bad request becomes a
``rejected`` operation with the reason, and nothing else happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Provider
from providers.targets import Targets
from worker import placement
from worker.errors import ManifestError, MigrationFileError, RequestRejected, UnknownTarget
from worker.jsontext import UNSTORABLE, unstorable_text
from worker.lifecycle import relocate
from worker.lifecycle.requests import (
    ProvisionRequest,
    RegisterSchemaRequest,
    RelocateRequest,
    Request,
    parse_request,
    request_id_of,
)
from worker.lifecycle.store import OperationStore
from worker.lifecycle.validation import validate_migrations
from worker.logging import redact_text, storable
from worker.manifest import Manifest, find_manifest, parse_manifest, relocated_manifest
from worker.migrations.files import MigrationFile
from worker.naming import PLUGIN_ID_RE, check_plugin_id
from worker.schema.registry import check_registration
from worker.settings import Settings
from worker.states import UNFINISHED, DsStatus, Kind
from worker.tracking.db import tracking_errors
from worker.tracking.models import LifecycleOperation, PluginDatasource


@dataclass
class Tracked:
    """A plugin's tracking rows as one read saw them: its datasource and reservations.

    The manifest of its newest unfinished provision (``pending``) is read only when needed.
    """

    ds: PluginDatasource | None
    reserved: list[str]
    states: dict[str, str] | None = None
    """Target state overrides, when the read also fetched them (a provision's placement)."""
    pending: dict[str, Any] | None = None
    pending_read: bool = False


Seen = dict[str, Tracked]
_SEEN: ContextVar[Seen | None] = ContextVar("tracked_rows", default=None)


def read_rows(session: Session, plugin_id: str, *, states: bool = False) -> Tracked:
    """``plugin_id``'s datasource and reservations (and target states) in ``session``."""
    return Tracked(
        session.get(PluginDatasource, plugin_id),
        placement.reserved(session, plugin_id),
        placement.state_overrides(session) if states else None,
    )


class Intake:
    """Accepts requests: validates them and records each as one operation row."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: OperationStore,
        targets: Targets,
    ) -> None:
        self.settings, self.sessions, self.store, self.targets = settings, sessions, store, targets

    def provider(self, target: str) -> Provider:
        """The driver of ``target``, built once per process."""
        return self.targets.provider(target)

    def target_of(self, request: Request, manifest: Manifest) -> str:
        """The plugin's target: where it lives, else the requested or first serving target."""
        rows = self._tracked(request.plugin_id)
        ds = rows.ds
        requested = request.target if isinstance(request, ProvisionRequest) else None
        if ds is not None and ds.status != DsStatus.DELETED:
            current = ds.target or ds.provider
            if requested is not None and requested != current:
                raise UnknownTarget(
                    "target change",
                    [f"target: {request.plugin_id} lives on target {current!r}, not {requested!r}"],
                )
            return current
        if rows.reserved:
            return rows.reserved[0]
        placed = self.place(request, manifest, rows.states)
        rows.reserved = [placed]
        return placed

    def place(
        self, request: Request, manifest: Manifest, states: dict[str, str] | None = None
    ) -> str:
        """Reserve room for a new plugin on the requested target, else the best that fits."""
        hints = getattr(request, "placement", None) or manifest.database.placement
        requested = request.target if isinstance(request, ProvisionRequest) else None
        with tracking_errors():
            return placement.place_new(
                self.sessions, self.targets, manifest, requested, hints.labels, states=states
            )

    def _checked_target(self, request: Request, manifest: Manifest) -> str:
        """The target whose driver checks the request (placement reserves nothing yet)."""
        ds = self._tracked(request.plugin_id).ds
        if ds is not None and ds.status != DsStatus.DELETED:
            return self.target_of(request, manifest)
        requested = request.target if isinstance(request, ProvisionRequest) else None
        return self.targets.choose(manifest.database.mode.value, requested).name

    def plugin_dir(self, plugin_id: str) -> Path:
        """``<plugins root>/<plugin_id>``, confined to the root."""
        root = self.settings.plugins_root
        folder = (root / check_plugin_id(plugin_id)).resolve()
        if not folder.is_relative_to(root):
            raise ManifestError(
                "plugin folder outside the plugins root", [f"plugin_id: leaves {root}"]
            )
        return folder

    def accept(self, kind: Kind, payload: object, extra: tuple[Any, ...], task_id: str) -> int:
        """Record the request as an operation (or find it by request_id); returns its id."""
        request_id = request_id_of(payload, task_id)
        plugin_id = payload.get("plugin_id") if isinstance(payload, dict) else None
        with self.reading_once():
            existing = self._first_read(kind, request_id, plugin_id)
            if existing is not None:
                return existing
            return self._accept_new(kind, payload, extra, task_id, request_id)

    def _first_read(self, kind: Kind, request_id: str, plugin_id: object) -> int | None:
        """The operation already accepted for ``request_id``; else the plugin's rows are read
        in the same transaction (and kept for this accept)."""
        seen = _SEEN.get()
        with tracking_errors(), self.store.reads() as session:
            existing = self.store.find_request(session, request_id)
            if existing is not None:
                return existing
            if (
                seen is not None
                and isinstance(plugin_id, str)
                and PLUGIN_ID_RE.fullmatch(plugin_id)
            ):
                seen[plugin_id] = read_rows(session, plugin_id, states=kind is Kind.PROVISION)
        return None

    def _accept_new(
        self, kind: Kind, payload: object, extra: tuple[Any, ...], task_id: str, request_id: str
    ) -> int:
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
            provider = self.provider(self._checked_target(request, manifest))
            folder = self.plugin_dir(request.plugin_id)
            files = validate_migrations(self.sessions, folder, request, manifest, provider)
            _storable_migrations(files)
        if isinstance(request, RegisterSchemaRequest):
            check_registration(self.sessions, request.plugin_id, request.schema_document)
        if isinstance(request, RelocateRequest):
            current = self.target_of(request, manifest)
            with tracking_errors(), self.store.reads() as session:
                states = placement.state_overrides(session)
            relocate.destination_pool(self.targets, request, manifest, current, states)
        if kind is Kind.PROVISION:
            self.target_of(request, manifest)  # places (reserves) last: nothing else refused

    def manifest_for(self, kind: Kind, request: Request) -> Manifest:
        """The manifest to work from: the request's, the plugin folder's, or the stored one."""
        inline = getattr(request, "manifest", None)
        ds = self._tracked(request.plugin_id).ds
        if kind is Kind.RELOCATE and ds is not None and ds.manifest:
            inline = ds.manifest  # the stored manifest carries the mode the plugin lives in
        folder = self.plugin_dir(request.plugin_id)
        stored = ds.manifest if ds is not None else None
        if inline is not None:
            manifest: Manifest | None = parse_manifest(inline)
        else:  # the folder's, the stored one, then the pending provision's (read if needed)
            manifest = find_manifest(folder, stored)
            if manifest is None and (pending := self._pending(request.plugin_id)):
                manifest = parse_manifest(dict(pending))
        if manifest is None:
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
        if kind is not Kind.PROVISION and not live and self._pending(request.plugin_id) is None:
            raise RequestRejected(
                "not provisioned",
                [f"plugin_id: {request.plugin_id} has no datasource; provision it first"],
            )
        if live and ds is not None and ds.mode != manifest.database.mode.value:
            return relocated_manifest(kind, manifest, ds.mode)
        return manifest

    @contextmanager
    def reading_once(self, seen: Seen | None = None) -> Iterator[None]:
        """Within the block, a plugin's tracking rows are read once (the block writes none);
        ``seen`` holds rows read already (``prefetch``)."""
        token = _SEEN.set({} if seen is None else seen)
        try:
            yield
        finally:
            _SEEN.reset(token)

    @staticmethod
    def prefetch(seen: Seen) -> Callable[[Session, LifecycleOperation], None]:
        """A callback reading an operation's plugin rows into ``seen`` (in the claim's
        transaction, so the run's context needs no transaction of its own)."""

        def read(session: Session, op: LifecycleOperation) -> None:
            seen[op.plugin_id] = read_rows(session, op.plugin_id)

        return read

    def _tracked(self, plugin_id: str) -> Tracked:
        seen = _SEEN.get()
        if seen is not None and plugin_id in seen:
            return seen[plugin_id]
        with tracking_errors(), self.store.reads() as session:
            found = read_rows(session, plugin_id)
        if seen is not None:
            seen[plugin_id] = found
        return found

    def _pending(self, plugin_id: str) -> dict[str, Any] | None:
        """The manifest of the plugin's newest unfinished provision (read once)."""
        rows = self._tracked(plugin_id)
        if not rows.pending_read:
            with tracking_errors(), self.store.reads() as session:
                pending = session.scalars(
                    select(LifecycleOperation.request)
                    .where(
                        LifecycleOperation.plugin_id == plugin_id,
                        LifecycleOperation.kind == Kind.PROVISION.value,
                        LifecycleOperation.state.in_(UNFINISHED),
                    )
                    .order_by(LifecycleOperation.id.desc())
                ).first()
            rows.pending_read = True
            if pending is not None:
                rows.pending = pending.get("manifest", {"id": plugin_id})
        return rows.pending


def _storable_migrations(files: list[MigrationFile]) -> None:
    """Migration text is recorded in plugin_migrations: refuse NUL before anything runs."""
    for file in files:
        texts = [file.up_sql, file.down_sql, file.name, file.description or ""]
        if unstorable_text(texts, file.filename) is not None:
            raise MigrationFileError("invalid migration file", [f"{file.filename}: {UNSTORABLE}"])

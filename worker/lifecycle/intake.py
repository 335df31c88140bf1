"""The intake: turns a lifecycle request into an operation row (or a recorded rejection).

Everything that can be checked before a side effect is checked here (the request, the
manifest, the target, the migration files, a schema document); a bad request becomes a
``rejected`` operation with the reason, and nothing else happens.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from providers.base import Provider
from providers.targets import Targets
from worker import placement
from worker.errors import (
    RequestRejected,
    UnknownTarget,
)
from worker.lifecycle import admit, manifests, rows
from worker.lifecycle.lease import Claim
from worker.lifecycle.requests import (
    ProvisionRequest,
    RegisterSchemaRequest,
    RelocateRequest,
    Request,
    parse_request,
    request_id_of,
)
from worker.lifecycle.rows import Seen, Tracked, read_rows
from worker.lifecycle.store import OperationStore
from worker.logging import redact_text, storable
from worker.manifest import Manifest
from worker.naming import PLUGIN_ID_RE
from worker.port import Change
from worker.settings import Settings
from worker.states import DsStatus, Kind
from worker.tracking.db import tracking_errors
from worker.tracking.models import LifecycleOperation

PARSES_FILES = frozenset({Kind.PROVISION, Kind.MIGRATE})
"""Kinds whose validation parses the plugin's migration files."""


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
        self.held: dict[int, rows.Held] = {}

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
        found = self._placing(request, manifest)
        assert found is not None
        with tracking_errors():
            placed = placement.place(self.sessions, found.pool, found.plugin_id, found.need)
        rows.reserved = [placed]
        return placed

    def _placing(self, request: Request, manifest: Manifest) -> placement.Placing | None:
        """The reservation a new plugin still needs: on the requested target, else the best
        that fits (None if the plugin lives somewhere or holds one already)."""
        rows = self._tracked(request.plugin_id)
        if (rows.ds is not None and rows.ds.status != DsStatus.DELETED) or rows.reserved:
            self.target_of(request, manifest)  # refuses a target change
            return None
        hints = getattr(request, "placement", None) or manifest.database.placement
        requested = request.target if isinstance(request, ProvisionRequest) else None
        with tracking_errors():
            return placement.placing_new(
                self.sessions, self.targets, manifest, requested, hints.labels, states=rows.states
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
        return manifests.plugin_dir(self.settings.plugins_root, plugin_id)

    def accept(
        self,
        kind: Kind,
        payload: object,
        extra: tuple[Any, ...],
        task_id: str,
        *,
        run_here: bool = False,
    ) -> int:
        """Record the request as an operation (or find it by request_id); returns its id.

        ``run_here``: this process runs the operation next; a new one is leased to it at
        insert when it may run at once (see ``take_held``).
        """
        request_id = request_id_of(payload, task_id)
        plugin_id = payload.get("plugin_id") if isinstance(payload, dict) else None
        with self.reading_once():
            existing = self._first_read(kind, request_id, plugin_id)
            if existing is not None:
                return existing
            return self._accept_new(kind, payload, extra, (task_id, request_id), run_here=run_here)

    def _first_read(self, kind: Kind, request_id: str, plugin_id: object) -> int | None:
        """The operation already accepted for ``request_id``; else the plugin's rows are read
        in the same transaction (and kept for this accept)."""
        seen = rows.current()
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
        self,
        kind: Kind,
        payload: object,
        extra: tuple[Any, ...],
        ids: tuple[str, str],
        *,
        run_here: bool,
    ) -> int:
        task_id, request_id = ids
        actor = payload.get("requested_by") if isinstance(payload, dict) else None
        plugin_id = payload.get("plugin_id") if isinstance(payload, dict) else None
        shown_id = plugin_id if isinstance(plugin_id, str) and len(plugin_id) <= 64 else "?"
        try:
            request = parse_request(kind, payload, extra)
            manifest, placing = self.check(kind, request)
            return self._insert(kind, (request, manifest), ids, placing, run_here=run_here)
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

    def _insert(
        self,
        kind: Kind,
        checked: tuple[Request, Manifest],
        ids: tuple[str, str],
        placing: placement.Placing | None,
        *,
        run_here: bool,
    ) -> int:
        """Insert the operation (see ``admit.insert``); keep what the run of one leased to
        this process at insert needs, for ``take_held``."""
        request, manifest = checked
        op, seen = admit.insert(self.store, kind, request, ids, placing, run_here=run_here)
        if seen is not None and op.lease_owner is not None:
            claim = Claim(op.id, op.lease_owner, op.version, op)
            stamp = rows.stamp_of(self._tracked(request.plugin_id))
            self.held[op.id] = rows.Held(claim, seen, request, manifest, stamp)
        return op.id

    def take_held(self, op_id: int) -> rows.Held | None:
        """The claim (and the plugin's rows) of an operation this process leased at insert."""
        return self.held.pop(op_id, None)

    def validate(self, kind: Kind, request: Request) -> Change | None:
        """Everything that can be checked before a side effect, raising RequestRejected;
        a new plugin's placement is reserved last (its own transaction). Returns what to
        commit with the operation's row: the analyses of the migration files parsed here,
        so that the worker that runs it does not parse them again."""
        _, placing = self.check(kind, request)
        if placing is not None:
            with tracking_errors():
                placement.place(self.sessions, placing.pool, placing.plugin_id, placing.need)
        if kind not in PARSES_FILES:
            return None
        from worker.migrations.analysis import storing  # loaded by the check already

        return storing(None)

    def check(self, kind: Kind, request: Request) -> tuple[Manifest, placement.Placing | None]:
        """What ``validate`` checks; the manifest, and the placement a provision still needs
        (to be reserved with the operation's insert)."""
        manifest = self.manifest_for(kind, request)
        if kind in manifests.MANIFEST_ONLY:  # a producer may check these kinds alone
            return manifest, None
        if kind in PARSES_FILES:
            # imported where needed: a teardown or rotate enqueued by the command line
            # loads no SQL parser, schema package or relocation engine
            from worker.lifecycle.validation import refuse_unstorable, validate_migrations

            provider = self.provider(self._checked_target(request, manifest))
            folder = self.plugin_dir(request.plugin_id)
            files = validate_migrations(self.sessions, folder, request, manifest, provider)
            refuse_unstorable(files)
        if isinstance(request, RegisterSchemaRequest):
            from worker.schema.registry import check_registration

            check_registration(self.sessions, request.plugin_id, request.schema_document)
        if isinstance(request, RelocateRequest):
            from worker.lifecycle import relocate

            current = self.target_of(request, manifest)
            with tracking_errors(), self.store.reads() as session:
                states = placement.state_overrides(session)
            relocate.destination_pool(self.targets, request, manifest, current, states)
        if kind is Kind.PROVISION:  # reserved last: nothing else refused
            return manifest, self._placing(request, manifest)
        return manifest, None

    def manifest_for(self, kind: Kind, request: Request) -> Manifest:
        """The manifest to work from: the request's, the plugin folder's, or the stored one."""
        ds = self._tracked(request.plugin_id).ds
        folder = self.plugin_dir(request.plugin_id)
        pending = partial(self._pending, request.plugin_id)  # read only if needed
        return manifests.manifest_for(kind, request, folder, ds, pending)

    @staticmethod
    def reading_once(seen: Seen | None = None) -> AbstractContextManager[None]:
        """Within the block, a plugin's tracking rows are read once (see ``rows``)."""
        return rows.reading_once(seen)

    @staticmethod
    def prefetch(seen: Seen) -> Callable[[Session, LifecycleOperation], None]:
        """Read an operation's plugin rows into ``seen`` in a transaction (see ``rows``)."""
        return rows.prefetch(seen)

    def _tracked(self, plugin_id: str) -> Tracked:
        return rows.tracked(self.store.reads, plugin_id)

    def _pending(self, plugin_id: str) -> dict[str, Any] | None:
        return rows.pending(self.store.reads, plugin_id)

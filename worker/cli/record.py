"""Recording a request checked by its manifest alone on the database driver (no SQLAlchemy).

A teardown, rotate, restore, snapshot, snapshot restore or schema unregistration is checked
by its manifest only (:data:`~worker.lifecycle.manifests.MANIFEST_ONLY`),
so the command line validates them with the intake's own function
(:func:`~worker.lifecycle.manifests.manifest_for`), reads the two rows it needs and writes the
operation with its ``operation_accepted`` event in one transaction, through the connection of
:class:`~worker.cli.reads.Reader`. The rows written are the ones
:meth:`OperationStore.insert <worker.lifecycle.store.OperationStore.insert>` and
:func:`worker.audit.record` write (tests/unit/test_cli_record_parity.py compares them); the
live metrics count nothing here (a command-line process exports none).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

from worker.cli.reads import Reader
from worker.lifecycle import manifests
from worker.lifecycle.requests import Request
from worker.ops.rows import JSON_COLUMNS, prepared
from worker.redaction import redact
from worker.settings import Settings
from worker.states import Kind, OpState

NEW_OP: dict[str, Any] = {
    "current_step": None,
    "steps": [],
    "attempts": 0,
    "crashes": 0,
    "version": 0,
    "lease_owner": None,
    "lease_expires_at": None,
    "result": {},
    "error": None,
    "finished_at": None,
}
"""What a new pending operation holds besides its request (as ``OperationStore.insert``)."""
FOUND = "id, plugin_id, kind, state, request, request_id, requested_by, task_id"


class DriverStore:
    """The reads and writes an enqueue of a manifest-only kind makes (one connection)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.sqlite = reader.backend == "sqlite"
        self._pending: dict[str, dict[str, Any] | None] = {}

    def datasource(self, plugin_id: str) -> SimpleNamespace | None:
        """The plugin's datasource row (the columns the manifest check reads)."""
        found = self.reader.rows(
            "SELECT plugin_id, status, mode, manifest FROM plugin_datasources WHERE plugin_id = ?",
            [plugin_id],
        )
        return SimpleNamespace(**found[0]) if found else None

    def pending(self, plugin_id: str) -> dict[str, Any] | None:
        """The manifest of the plugin's newest unfinished provision (read once)."""
        if plugin_id not in self._pending:
            found = self.reader.rows(
                "SELECT request FROM lifecycle_operations WHERE plugin_id = ? AND kind = ? "
                "AND state IN (?, ?) ORDER BY id DESC LIMIT 1",
                [plugin_id, Kind.PROVISION.value, OpState.PENDING.value, OpState.RUNNING.value],
            )
            request = found[0]["request"] if found else None
            self._pending[plugin_id] = (
                None if request is None else request.get("manifest", {"id": plugin_id})
            )
        return self._pending[plugin_id]

    def by_request_id(self, request_id: str) -> SimpleNamespace | None:
        """The operation accepted for ``request_id``, if any."""
        found = self.reader.rows(
            f"SELECT {FOUND} FROM lifecycle_operations WHERE request_id = ?", [request_id]
        )
        return SimpleNamespace(**found[0]) if found else None

    def insert(
        self,
        *,
        kind: Kind,
        plugin_id: str,
        request_id: str,
        request: dict[str, Any],
        actor: str | None,
        task_id: str | None,
        before: None = None,
    ) -> tuple[SimpleNamespace, bool]:
        """Insert a pending operation and its ``operation_accepted`` event; (row, created).
        ``before``: nothing (these kinds parse nothing to commit with the row)."""
        now = datetime.now(UTC)
        row: dict[str, Any] = {
            **NEW_OP,
            "plugin_id": plugin_id,
            "kind": kind.value,
            "state": OpState.PENDING.value,
            "request": request,
            "request_id": request_id,
            "requested_by": actor,
            "task_id": task_id,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.transaction() as cursor:
                op_id = self._insert(cursor, "lifecycle_operations", row)
                details = redact({"kind": kind.value, "request_id": request_id})
                self._audit(cursor, now, (plugin_id, op_id), "operation_accepted", actor, details)
        except self.reader.errors as exc:  # the request_id taken meanwhile: that operation
            existing = self.by_request_id(request_id) if "unique" in str(exc).lower() else None
            if existing is None:
                raise self.reader.failure(exc) from exc
            return existing, False
        return SimpleNamespace(id=op_id, **row), True

    def audit(self, event: str, plugin_id: str | None, actor: str | None, **details: Any) -> None:
        """Write one audit event (``details`` redacted) in its own transaction."""
        try:
            with self.transaction() as cursor:
                now = datetime.now(UTC)
                self._audit(cursor, now, (plugin_id, None), event, actor, redact(details))
        except self.reader.errors as exc:
            raise self.reader.failure(exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one write transaction (SQLite: BEGIN IMMEDIATE, as the engine does)."""
        conn = self.reader.conn
        if not self.sqlite:
            with conn.transaction(), conn.cursor() as cursor:
                yield cursor
            return
        conn.isolation_level = None
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def _audit(
        self,
        cursor: Any,
        now: datetime,
        about: tuple[str | None, int | None],
        event: str,
        actor: str | None,
        details: dict[str, Any],
    ) -> None:
        """INSERT one audit event (``about``: plugin id, operation id; ``details`` redacted)."""
        plugin_id, op_id = about
        row = {"timestamp": now, "plugin_id": plugin_id, "operation_id": op_id, "event": event}
        self._insert(cursor, "audit_events", {**row, "actor": actor, "details": details})

    def _insert(self, cursor: Any, table: str, row: dict[str, Any]) -> int:
        """INSERT one row (JSON columns encoded as SQLAlchemy's JSON type does); its id."""
        cast = "?" if self.sqlite else "?::jsonb"
        marks = [cast if name in JSON_COLUMNS else "?" for name in row]
        values = [json.dumps(v) if name in JSON_COLUMNS else v for name, v in row.items()]
        sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(marks)}) RETURNING id"
        cursor.execute(*prepared(sql, values, self.sqlite))
        return int(cursor.fetchone()[0])


class DriverService:
    """What :func:`worker.lifecycle.submit.record` uses of the lifecycle service, for the
    manifest-only kinds: the check is the intake's, the rows go through the driver."""

    def __init__(self, settings: Settings, reader: Reader) -> None:
        self.settings = settings
        self.store = DriverStore(reader)

    def validate(self, kind: Kind, request: Request) -> None:
        """The manifest check (RequestRejected): everything these kinds are checked for
        (nothing to commit with the row)."""
        assert kind in manifests.MANIFEST_ONLY, kind
        plugin_id = request.plugin_id
        ds = self.store.datasource(plugin_id)
        folder = manifests.plugin_dir(self.settings.plugins_root, plugin_id)
        pending = partial(self.store.pending, plugin_id)
        manifests.manifest_for(kind, request, folder, ds, pending)

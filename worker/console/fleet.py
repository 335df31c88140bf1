"""The fleet table: one row per plugin, every column sortable and filterable.

Size is the last measurement of quota enforcement (``plugin_quotas``) against
``limits.storageMb``; drift is what ``plugin-db doctor`` reports from the migration ledger and
the files on disk (:func:`worker.ops.drift.migration_findings`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.errors import PluginDbError
from worker.manifest import parse_manifest
from worker.migrations.files import checksum_in
from worker.ops.drift import migration_findings
from worker.ops.findings import Check
from worker.states import DsStatus
from worker.tracking.models import (
    CredentialRetirement,
    PluginDatasource,
    PluginMigration,
    PluginQuota,
)

MIB = 1024 * 1024
COLUMNS = (
    "plugin",
    "mode",
    "target",
    "status",
    "size",
    "connections",
    "migration",
    "drift",
    "rotation",
)
"""The table's columns, in order: each is a sort key (``-`` prefixed: descending)."""
CHOICES = ("mode", "target", "status", "connections", "migration", "drift", "rotation")
"""Columns filtered by picking one of the values present."""
DRIFT_NOT_CHECKED = ("deleted", "archived")


@dataclass(frozen=True)
class FleetRow:
    """One line of the fleet table."""

    plugin: str
    mode: str
    target: str
    status: str
    size_bytes: int | None
    limit_bytes: int | None
    connections: int | None
    migration: str | None
    drift: str
    drift_detail: str
    next_rotation: datetime | None
    rotation: str

    @property
    def size_percent(self) -> float | None:
        """Measured size as a percentage of the limit (None: not measured or no limit)."""
        if self.size_bytes is None or not self.limit_bytes:
            return None
        return round(100 * self.size_bytes / self.limit_bytes, 1)

    def cell(self, column: str) -> str:
        """The value a choice filter compares (as text)."""
        value = getattr(self, column)
        return "" if value is None else str(value)

    def key(self, column: str) -> Any:
        """The sort key of ``column`` (None sorts last)."""
        if column == "plugin":
            return self.plugin
        if column == "size":
            return None if self.size_bytes is None else (self.size_percent or 0, self.size_bytes)
        if column == "rotation":
            return self.next_rotation
        value = getattr(self, column)
        return value if value is None or isinstance(value, int) else str(value)


@dataclass(frozen=True)
class FleetQuery:
    """What the fleet form asks for: ``q`` (id contains), ``full`` (size at least N % of the
    limit), one value per choice column, and the sort."""

    q: str = ""
    full: int | None = None
    choices: Mapping[str, str] = field(default_factory=dict)
    sort: str = "plugin"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> FleetQuery:
        """From the query string; unknown or malformed values are ignored."""
        sort = params.get("sort", "plugin")
        if sort.lstrip("-") not in COLUMNS:
            sort = "plugin"
        full = params.get("full", "")
        return cls(
            q=params.get("q", "").strip()[:64],
            full=int(full) if full.isdigit() and len(full) < 6 else None,
            choices={c: params[c][:64] for c in CHOICES if params.get(c)},
            sort=sort,
        )

    def keeps(self, row: FleetRow) -> bool:
        """Whether ``row`` passes every filter."""
        if self.q and self.q not in row.plugin:
            return False
        if self.full is not None and (row.size_percent or 0) < self.full:
            return False
        return all(row.cell(c) == v for c, v in self.choices.items())

    def params(self, **changes: str) -> dict[str, str]:
        """The query string of this view with ``changes`` (a link that keeps the filters)."""
        full = "" if self.full is None else str(self.full)
        found = {"q": self.q, "full": full, "sort": self.sort}
        found |= dict(self.choices) | changes
        return {k: v for k, v in found.items() if v}


def _limits(manifest: Mapping[str, Any]) -> dict[str, Any]:
    limits = manifest.get("sovereign", {}).get("database", {}).get("limits") or {}
    return limits if isinstance(limits, dict) else {}


def drift_of(
    ds: PluginDatasource, rows: Sequence[PluginMigration], plugins_root: Path
) -> tuple[str, str]:
    """``drift``, ``pending``, ``none`` (or ``unknown``), and the doctor's words for it."""
    if ds.status in DRIFT_NOT_CHECKED:
        return "", ""
    try:
        manifest = parse_manifest(ds.manifest)
    except PluginDbError as exc:
        return "unknown", str(exc)
    stored = checksum_in(ds.descriptor)
    folder = plugins_root / ds.plugin_id
    findings, _ = migration_findings(ds.plugin_id, manifest, folder, rows, stored)
    for check, word in ((Check.MIGRATION_DRIFT, "drift"), (Check.MIGRATION_PENDING, "pending")):
        found = [f.message for f in findings if f.check == check]
        if found:
            return word, "; ".join(found)
    return "none", ""


def _rotation(due: datetime | None, now: datetime, retiring: bool) -> str:
    """``retiring`` (an old login awaits retirement), ``due``, ``scheduled`` or ``none``."""
    if retiring:
        return "retiring"
    if due is None:
        return "none"
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    return "due" if due <= now else "scheduled"


def rows(session: Session, plugins_root: Path) -> list[FleetRow]:
    """Every plugin's row (unfiltered, unsorted)."""
    last = dict(
        session.execute(
            select(PluginMigration.plugin_id, func.max(PluginMigration.migration_version))
            .where(PluginMigration.status == "completed")
            .group_by(PluginMigration.plugin_id)
        ).all()
    )
    ledger: dict[str, list[PluginMigration]] = defaultdict(list)
    for migration in session.scalars(select(PluginMigration)):
        ledger[migration.plugin_id].append(migration)
    quotas = {q.plugin_id: q for q in session.scalars(select(PluginQuota))}
    retiring = set(
        session.scalars(
            select(CredentialRetirement.plugin_id).where(CredentialRetirement.state == "pending")
        )
    )
    now = datetime.now(UTC)
    found = []
    for ds in session.scalars(select(PluginDatasource)):
        limits, quota = _limits(ds.manifest or {}), quotas.get(ds.plugin_id)
        limit_mb = limits.get("storageMb")
        drift, detail = drift_of(ds, ledger[ds.plugin_id], plugins_root)
        found.append(
            FleetRow(
                plugin=ds.plugin_id,
                mode=ds.mode,
                target=ds.target or ds.provider,
                status=ds.status,
                size_bytes=quota.size_bytes if quota else None,
                limit_bytes=(quota and quota.limit_bytes)
                or (limit_mb * MIB if isinstance(limit_mb, int) else None),
                connections=limits.get("connections"),
                migration=last.get(ds.plugin_id),
                drift=drift,
                drift_detail=detail,
                next_rotation=ds.next_rotation_at,
                rotation=_rotation(ds.next_rotation_at, now, ds.plugin_id in retiring),
            )
        )
    return found


def _sorted(found: list[FleetRow], sort: str) -> list[FleetRow]:
    column, descending = sort.lstrip("-"), sort.startswith("-")
    found = sorted(found, key=lambda r: r.plugin)
    known = [r for r in found if r.key(column) is not None]
    unknown = [r for r in found if r.key(column) is None]
    return sorted(known, key=lambda r: r.key(column), reverse=descending) + unknown


def fleet(session: Session, plugins_root: Path, query: FleetQuery) -> dict[str, Any]:
    """The rows the query keeps, sorted, and the values each choice filter offers."""
    every = rows(session, plugins_root)
    offered: dict[str, list[str]] = {c: sorted({r.cell(c) for r in every} - {""}) for c in CHOICES}
    offered["status"] = sorted(set(offered["status"]) | {s.value for s in DsStatus})
    kept = [r for r in every if query.keeps(r)]
    return {"rows": _sorted(kept, query.sort), "offered": offered, "total": len(every)}


LABELS: dict[str, str] = {
    "plugin": "Plugin",
    "mode": "Mode",
    "target": "Target",
    "status": "Status",
    "size": "Size / limit",
    "connections": "Connections",
    "migration": "Last migration",
    "drift": "Drift",
    "rotation": "Rotation",
}

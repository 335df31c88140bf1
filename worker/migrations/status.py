"""Each version's state, computed from the files on disk and the tracking rows (pure).

States:

* ``pending``: a file no row has completed (never run, or reset by ``repair``);
* ``out-of-order``: pending, but lower than the highest completed version (it will still run);
* ``completed`` / ``failed`` / ``rolled_back`` / ``running``: the row's own status;
* ``changed-since-applied``: completed, but the file's checksum differs from the row's;
* ``missing-file``: a row without a file.

Rows of the declarative schema registry (versions ``schema-<version>``) have no file by design:
they are listed with their row status and ``kind`` ``schema``, never as ``missing-file``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from worker.migrations.files import MigrationFile, set_checksum

PENDING, OUT_OF_ORDER, COMPLETED = "pending", "out-of-order", "completed"
FAILED, ROLLED_BACK, RUNNING = "failed", "rolled_back", "running"
CHANGED, MISSING = "changed-since-applied", "missing-file"
NOT_APPLIED = frozenset({PENDING, OUT_OF_ORDER, FAILED, ROLLED_BACK, RUNNING})
"""States whose version a plain migrate would (try to) run."""
SCHEMA_PREFIX = "schema-"


@dataclass(frozen=True)
class TrackedRow:
    """What status needs of a ``plugin_migrations`` row."""

    version: str
    status: str
    checksum: str | None = None
    name: str | None = None
    executed_at: datetime | None = None
    completed_at: datetime | None = None
    rolled_back_at: datetime | None = None
    execution_time_ms: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class VersionStatus:
    """One version: its file (if any), its row (if any) and the resulting state."""

    version: str
    state: str
    kind: Literal["file", "schema"]
    file: MigrationFile | None
    row: TrackedRow | None

    @property
    def name(self) -> str:
        """The file's migration name, else the row's."""
        if self.file is not None:
            return self.file.name
        return (self.row.name if self.row else None) or self.version

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``plugin-db migrations list --json``."""
        row = self.row
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state,
            "status": row.status if row else None,
            "kind": self.kind,
            "file": self.file.filename if self.file else None,
            "file_checksum": self.file.checksum if self.file else None,
            "applied_checksum": row.checksum if row else None,
            "executed_at": row.executed_at if row else None,
            "completed_at": row.completed_at if row else None,
            "rolled_back_at": row.rolled_back_at if row else None,
            "execution_time_ms": row.execution_time_ms if row else None,
            "error": row.error if row else None,
        }


@dataclass(frozen=True)
class Report:
    """Every version of a plugin, sorted, and the checksum over its whole set of files."""

    versions: list[VersionStatus]
    set_checksum: str

    def in_state(self, *states: str) -> list[str]:
        """Versions (of files, not schema rows) in any of ``states``."""
        return [v.version for v in self.versions if v.kind == "file" and v.state in states]

    @property
    def up_to_date(self) -> bool:
        """Whether a plain migrate would find nothing to do."""
        return not self.in_state(*NOT_APPLIED)

    def counts(self) -> dict[str, int]:
        """How many versions are in each state."""
        counts: dict[str, int] = {}
        for v in self.versions:
            counts[v.state] = counts.get(v.state, 0) + 1
        return counts

    def to_json(self) -> list[dict[str, Any]]:
        """One entry per version; each carries the set checksum too.

        A list (not an object) because that is the shape ``migrations list --json`` always
        had: ``status`` stays the tracking row's status, ``state`` is the computed one.
        """
        return [{**v.to_json(), "set_checksum": self.set_checksum} for v in self.versions]


def _file_state(file: MigrationFile, row: TrackedRow | None, highest: str | None) -> str:
    if row is None or row.status == PENDING:
        return OUT_OF_ORDER if highest is not None and file.version < highest else PENDING
    if row.status == COMPLETED and row.checksum and row.checksum != file.checksum:
        return CHANGED
    return row.status


def compute(files: Sequence[MigrationFile], rows: Iterable[TrackedRow]) -> Report:
    """The state of every version found in ``files`` or ``rows``."""
    by_file = {f.version: f for f in files}
    by_row = {r.version: r for r in rows}
    completed = [
        v
        for v, r in by_row.items()
        if r.status == COMPLETED and not v.startswith(SCHEMA_PREFIX) and v in by_file
    ]
    highest = max(completed) if completed else None
    versions: list[VersionStatus] = []
    for version in sorted(set(by_file) | set(by_row)):
        file, row = by_file.get(version), by_row.get(version)
        if file is not None:
            state = _file_state(file, row, highest)
            versions.append(VersionStatus(version, state, "file", file, row))
        elif row is not None and version.startswith(SCHEMA_PREFIX):
            versions.append(VersionStatus(version, row.status, "schema", None, row))
        else:
            versions.append(VersionStatus(version, MISSING, "file", None, row))
    versions.sort(key=lambda v: (v.kind == "schema", v.version))
    return Report(versions, set_checksum(list(files)))

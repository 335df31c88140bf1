"""What a migrate request will do: which versions run up or down, checked for drift first.

* Drift: a *complete* ledger entry whose checksum differs from its file stops the plan. An
  incomplete entry (a MySQL/MariaDB file that failed part-way) is not drift: the file is
  expected to change when it is fixed, and the run continues after the statements that ran.
* A failed version blocks every later one: a plan may apply versions above a failed version
  only if it retries that version first (it is pending in the same plan), or with ``force``.
  ``plugin-db migrations repair`` marks failed versions pending again, which lifts the block.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from worker.errors import DriftDetected, MigrationBlocked, MigrationFileError
from worker.migrations.files import MigrationFile
from worker.migrations.ledger import LedgerEntry

ROLLBACK_ALL = "0"


@dataclass(frozen=True)
class Planned:
    """One version to run in one direction."""

    direction: Literal["up", "down"]
    file: MigrationFile

    @property
    def sql(self) -> str:
        """The part of the file that runs."""
        return self.file.up_sql if self.direction == "up" else self.file.down_sql


def check_drift(files: Sequence[MigrationFile], applied: Mapping[str, LedgerEntry]) -> None:
    """Refuse to go on when an applied file changed since it ran."""
    changed = [
        f.filename
        for f in files
        if f.version in applied
        and applied[f.version].complete
        and applied[f.version].checksum != f.checksum
    ]
    if changed:
        raise DriftDetected(
            f"applied migration file(s) changed since they ran: {', '.join(changed)}; restore the "
            "original file, or accept the change with `plugin-db migrations repair PLUGIN_ID`"
        )


def plan(
    files: Sequence[MigrationFile],
    applied: Mapping[str, LedgerEntry],
    target: str | None = None,
    force: bool = False,
    failed: Collection[str] = (),
) -> list[Planned]:
    """Versions to apply (ascending) or revert (descending) to reach ``target``.

    ``failed`` are the versions whose last attempt failed (tracking rows).
    """
    by_version = {f.version: f for f in files}
    if target not in (None, ROLLBACK_ALL) and target not in by_version:
        raise MigrationFileError(
            "unknown target", [f"target: no migration file has version {target!r}"]
        )
    if force and target is not None and target in applied:
        return [Planned("up", by_version[target])]  # force: run an applied version again
    check_drift(files, applied)
    ups = [
        Planned("up", f)
        for f in files
        if (f.version not in applied or not applied[f.version].complete)
        and (target is None or f.version <= target)
    ]
    downs = [
        Planned("down", by_version[v])
        for v in sorted(applied, reverse=True)
        if target is not None and v > target and v in by_version
    ]
    missing = [v for v in applied if target is not None and v > target and v not in by_version]
    if missing:
        raise MigrationFileError(
            "cannot roll back",
            [f"version {v}: its file is missing, so there is no DOWN part" for v in missing],
        )
    if any(not p.file.down_sql for p in downs):
        empty = [p.file.filename for p in downs if not p.file.down_sql]
        raise MigrationFileError("cannot roll back", [f"{n}: has no DOWN part" for n in empty])
    if not downs and not force:
        check_blocked(ups, applied, failed)
    return downs or ups


def check_blocked(
    ups: Sequence[Planned], applied: Mapping[str, LedgerEntry], failed: Collection[str]
) -> None:
    """Refuse to apply a version above a failed one that this plan does not retry."""
    retried = {p.file.version for p in ups}
    stuck = sorted(
        v for v in failed if v not in retried and not (v in applied and applied[v].complete)
    )
    if not stuck:
        return
    later = [p.file.version for p in ups if p.file.version > stuck[0]]
    if later:
        raise MigrationBlocked(
            f"version {stuck[0]} failed and is not retried by this run (is its file missing?), "
            f"so later versions ({', '.join(later)}) stay blocked: restore its file and migrate, "
            "mark it pending with `plugin-db migrations repair PLUGIN_ID`, or migrate with force"
        )

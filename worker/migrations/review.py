"""What the linter's findings decide before a migration batch runs.

* Every UP statement of the batch, or of a plan generated from a declarative schema, is
  linted (:mod:`worker.migrations.lint`); the findings go to the audit trail
  (``migration_linted``) and to the step's detail.
* A destructive statement with no snapshot taken before the batch is refused unless
  ``force``; a locking statement on a table at least ``PLUGIN_DB_LARGE_TABLE_MB`` large is
  refused unless ``force``, with the safe form to use instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from providers.base import Provider
from worker import audit
from worker.errors import MigrationRefused
from worker.migrations.analysis import Analysis
from worker.migrations.lint import DESTRUCTIVE, LOCKING, Finding, lint_script, summary
from worker.migrations.plan import Planned
from worker.port import Change, PluginPort
from worker.sqlguard import split_statements

MAX_AUDITED = 50
MIB = 1024 * 1024

SnapshotHook = Callable[[PluginPort, bool], int | None]
"""Takes the pre-migration snapshot when the policy asks for one (given: any destructive
finding); returns its id, or None when none was taken."""


@dataclass
class Review:
    """The batch's findings by version and the snapshot taken before it, if any."""

    findings: dict[str, list[Finding]] = field(default_factory=dict)
    snapshot_id: int | None = None

    @property
    def destructive(self) -> bool:
        """Whether any statement of the batch destroys data."""
        return any(f.kind == DESTRUCTIVE for fs in self.findings.values() for f in fs)

    def to_json(self) -> dict[str, Any]:
        """Summary for the step's detail."""
        counts = summary([f for fs in self.findings.values() for f in fs])
        return {"lint": counts, "snapshot_id": self.snapshot_id}


def lint_file_sql(provider: Provider, sql: str) -> list[Finding]:
    """Findings of one migration part for ``provider``'s dialect."""
    statements = split_statements(sql, provider.dialect)
    return lint_script(statements, provider.dialect, transactional_ddl=provider.transactional_ddl)


def lint_planned(
    provider: Provider, steps: Sequence[Planned], parsed: Mapping[str, Analysis] | None = None
) -> dict[str, list[Finding]]:
    """Findings of the UP parts of a plan (DOWN parts are explicit rollbacks), by version.

    ``parsed`` holds the parts' analyses (their findings are already there).
    """
    found = {
        p.file.version: list(parsed[p.sql].findings)
        if parsed is not None and p.sql in parsed
        else lint_file_sql(provider, p.sql)
        for p in steps
        if p.direction == "up"
    }
    return {version: findings for version, findings in found.items() if findings}


def review(
    port: PluginPort,
    steps: Sequence[Planned],
    force: bool,
    snapshot: SnapshotHook | None,
    *,
    parsed: Mapping[str, Analysis] | None = None,
    first: Change | None = None,
) -> Review:
    """Lint the batch, take the snapshot the policy asks for, refuse what must be refused.

    ``first`` is committed with the lint record.
    """
    findings = lint_planned(port.provider, steps, parsed)
    return _decide(port, findings, bool(steps), force, snapshot, first=first)


def review_statements(
    port: PluginPort,
    version: str,
    statements: Sequence[str],
    force: bool,
    snapshot: SnapshotHook | None,
) -> Review:
    """The same review for a plan generated from a declarative schema (one version)."""
    provider = port.provider
    found = lint_script(statements, provider.dialect, transactional_ddl=provider.transactional_ddl)
    return _decide(port, {version: found} if found else {}, bool(statements), force, snapshot)


def _decide(
    port: PluginPort,
    findings: dict[str, list[Finding]],
    changes: bool,
    force: bool,
    snapshot: SnapshotHook | None,
    *,
    first: Change | None = None,
) -> Review:
    result = Review(findings=findings)
    if snapshot is not None and changes:
        result.snapshot_id = snapshot(port, result.destructive)
    refusals = [] if force else _refusals(port, result)

    def record(session: Session) -> None:
        if first is not None:
            first(session)
        audit.record(
            session,
            "migration_linted",
            plugin_id=port.plugin_id,
            operation_id=port.operation_id,
            actor=port.actor,
            findings=[
                {"version": v, **f.to_json()} for v, fs in result.findings.items() for f in fs
            ][:MAX_AUDITED],
            snapshot_id=result.snapshot_id,
            forced=force,
            refused=refusals,
        )

    port.journal.write(record)
    if refusals:
        raise MigrationRefused("; ".join(refusals))
    return result


def _refusals(port: PluginPort, result: Review) -> list[str]:
    found = [(v, f) for v, fs in result.findings.items() for f in fs]
    refusals = [
        f"migration {v} statement {f.index + 1} ({f.statement!r}): {f.message}, and no snapshot "
        "was taken before the batch (snapshots.beforeMigrate is 'never', or the storage cannot "
        "be snapshotted): allow snapshots or migrate with force"
        for v, f in found
        if f.kind == DESTRUCTIVE and result.snapshot_id is None
    ]
    locking = [(v, f) for v, f in found if f.kind == LOCKING and f.table]
    sizes = _sizes(port, sorted({f.table for _, f in locking if f.table}))
    limit = port.large_table_mb * MIB
    refusals += [
        f"migration {v} statement {f.index + 1} ({f.statement!r}): {f.message}, and table "
        f"{f.table} holds {sizes[f.table] / MIB:.1f} MiB (limit {port.large_table_mb:g}"
        f" MiB); safe form: {f.suggestion}; or migrate with force"
        for v, f in locking
        if f.table in sizes and sizes[f.table] >= limit
    ]
    return refusals


def _sizes(port: PluginPort, tables: list[str]) -> dict[str, int]:
    if not tables:
        return {}
    try:
        return port.provider.table_sizes(port.spec, tables)
    except NotImplementedError:
        return {}

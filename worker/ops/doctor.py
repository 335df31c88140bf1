"""``plugin-db doctor``: health, size against limits, drift, orphans, stuck operations, servers.

:meth:`Doctor.run` only reads (as admin for the catalog and orphans, as each plugin for its
health) and returns findings; the one thing it writes is a ``storage_limit_exceeded`` audit
event per plugin over its limit, once per run. The CLI and the periodic task render them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from providers.base import Login, PluginSpec, Provider
from providers.targets import Targets
from worker.errors import PluginDbError, UnknownPlugin
from worker.manifest import parse_manifest
from worker.migrations.files import checksum_in
from worker.ops import events_checks, operations, plugins, safety
from worker.ops.drift import PluginMigration, migration_findings
from worker.ops.findings import Check, Finding, error, problems, summary_line
from worker.ops.plugins import PluginDatasource
from worker.ops.rows import Rows, SessionRows, objects
from worker.port import spec_for
from worker.redaction import redact_text
from worker.settings import Settings
from worker.states import DsStatus

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from worker.secrets import SecretBox

ACTOR = "doctor"
DS_COLUMNS = "plugin_id, mode, provider, target, status, descriptor, manifest, secrets_ref"
MIGRATION_COLUMNS = "plugin_id, migration_version, status, checksum"
Progress = Callable[[int, int, str], None]
"""Called before each plugin is checked: (index, total, plugin_id)."""


@dataclass
class Report:
    """The findings of one run."""

    findings: list[Finding]
    plugins: list[str]
    over_limit: list[str] = field(default_factory=list)
    sizes: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    """Per plugin checked: (size in bytes, limit in bytes), None where unknown."""

    @property
    def problems(self) -> list[Finding]:
        """Warnings and errors."""
        return problems(self.findings)

    @property
    def summary(self) -> str:
        """One line: plugins checked, healthy, warnings, errors."""
        return summary_line(self.findings, self.plugins)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        counts = {s: sum(f.severity == s for f in self.findings) for s in ("warning", "error")}
        return {
            "plugins_checked": len(self.plugins),
            "warnings": counts["warning"],
            "errors": counts["error"],
            "over_limit": self.over_limit,
            "summary": self.summary,
            "findings": [f.to_json() for f in self.findings],
        }


class Doctor:
    """Checks every datasource not deleted (or one), the operations and the orphans.

    The checks read the tracking tables through ``rows`` (plain SELECTs: the command line
    passes its driver-only reader); sessions are made only where the ORM is needed (a
    credentialed plugin's login, the audit event of a plugin over its limit, the fleet-wide
    capacity check).
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session] | None = None,
        now: datetime | None = None,
        rows: Rows | None = None,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self.rows = rows or SessionRows(self.sessions)
        self.now = now
        self.targets = Targets.from_settings(settings)
        self._box: SecretBox | None = None

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the tracking database (made on first use)."""
        if self._sessions is not None:
            return self._sessions
        from worker.tracking.db import make_engine, make_sessionmaker

        return make_sessionmaker(make_engine(self.settings.database_url))

    def provider(self, ds: PluginDatasource) -> Provider:
        """The driver of the plugin's target (built once per run)."""
        return self.targets.provider(ds.target or ds.provider)

    def login(self, ds: PluginDatasource, provider: Provider, spec: PluginSpec) -> Login | None:
        """The plugin's active login, decrypted (None where the provider issues none)."""
        if not provider.issues_credentials or not ds.secrets_ref:
            return None
        from worker import secrets
        from worker.secrets import SecretBox

        self._box = self._box or SecretBox.from_settings(self.settings)
        with self.sessions() as session:
            creds = secrets.load_credentials(session, self._box, ds.secrets_ref)
        return provider.login_for(spec, creds)

    def run(
        self, plugin_id: str | None = None, *, progress: Progress | None = None, record: bool = True
    ) -> Report:
        """Run every check; raises :class:`UnknownPlugin` for an unknown ``plugin_id``."""
        now = self.now or datetime.now(UTC)
        live, rows = self._read(plugin_id)
        chosen = [ds for ds in live if plugin_id in (None, ds.plugin_id)]
        if plugin_id is not None and not chosen:
            raise UnknownPlugin(plugin_id)
        findings: list[Finding] = []
        over: list[tuple[str, plugins.Outcome]] = []
        sizes: dict[str, tuple[int | None, int | None]] = {}
        try:
            for index, ds in enumerate(chosen):
                if progress is not None:
                    progress(index, len(chosen), ds.plugin_id)
                outcome = self._check(ds, rows[ds.plugin_id])
                findings += outcome.findings
                sizes[ds.plugin_id] = (outcome.size_bytes, outcome.limit_bytes)
                if outcome.over_limit:
                    over.append((ds.plugin_id, outcome))
            findings += operations.stuck(self.rows, self.settings, now, plugin_id)
            findings += operations.failed(self.rows, now, plugin_id)
            findings += events_checks.findings(self.rows, now, plugin_id)
            findings += safety.quota_findings(self.rows, plugin_id)
            findings += safety.restore_points(self.rows, now, plugin_id)
            if plugin_id is None:
                findings += self._fleet(live)
        finally:
            self.targets.close()
        if record and over:
            self._record(over)
        return Report(findings, [ds.plugin_id for ds in chosen], [pid for pid, _ in over], sizes)

    def _read(
        self, plugin_id: str | None
    ) -> tuple[list[PluginDatasource], dict[str, list[PluginMigration]]]:
        """The datasources not deleted (by id) and their migration rows (by version)."""
        scope, params = ("", []) if plugin_id is None else (" AND plugin_id = ?", [plugin_id])
        live = objects(
            self.rows.rows(
                f"SELECT {DS_COLUMNS} FROM plugin_datasources WHERE status <> ?{scope} "
                "ORDER BY plugin_id",
                [DsStatus.DELETED.value, *params],
            )
        )
        where = "" if plugin_id is None else " WHERE plugin_id = ?"
        rows: dict[str, list[PluginMigration]] = defaultdict(list)
        for row in objects(
            self.rows.rows(
                f"SELECT {MIGRATION_COLUMNS} FROM plugin_migrations{where} "
                "ORDER BY migration_version",
                params,
            )
        ):
            rows[row.plugin_id].append(row)
        return live, rows

    def _fleet(self, live: list[PluginDatasource]) -> list[Finding]:
        """The fleet-wide checks: orphaned storage, the servers, the targets' capacity."""
        from worker.ops import capacity, orphans, servers

        return [
            *orphans.orphans(self.targets, self._specs(live)),
            *servers.server_findings(self.settings, self.targets),
            *capacity.capacity_findings(self.sessions, self.targets),
        ]

    def _check(self, ds: PluginDatasource, rows: list[PluginMigration]) -> plugins.Outcome:
        """Storage and migration checks of one datasource; one ``ok`` line if all is well."""
        try:
            manifest = parse_manifest(ds.manifest)
            spec = spec_for(manifest)
            provider = self.provider(ds)
            target = plugins.Target(
                ds=ds,
                manifest=manifest,
                spec=spec,
                provider=provider,
                login=self.login(ds, provider, spec),
                plugin_dir=self.settings.plugins_root / ds.plugin_id,
            )
            outcome = plugins.check(target)
        except Exception as exc:  # one broken plugin never stops the run: it is a finding
            reason = str(exc) if isinstance(exc, PluginDbError) else f"{type(exc).__name__}: {exc}"
            finding = error(
                ds.plugin_id,
                Check.PROVIDER,
                f"cannot check it: {redact_text(reason)}",
                f"`plugin-db info {ds.plugin_id}` shows where its storage is: check it, and "
                f"the {ds.provider} provider's settings",
            )
            return plugins.Outcome([finding])
        stored = checksum_in(ds.descriptor)
        drift, applied = migration_findings(ds.plugin_id, manifest, target.plugin_dir, rows, stored)
        outcome.findings += drift
        if not problems(outcome.findings):
            done = plugins.describe_ok(target, outcome, {"migrations": applied})
            outcome.findings = [f for f in outcome.findings if f.check != Check.HEALTH] + [done]
        return outcome

    @staticmethod
    def _specs(live: list[PluginDatasource]) -> dict[str, list[PluginSpec]]:
        """Tracked specs by target name, for the orphan scans."""
        specs: dict[str, list[PluginSpec]] = defaultdict(list)
        for ds in live:
            try:
                spec = spec_for(parse_manifest(ds.manifest))
            except PluginDbError:
                spec = PluginSpec(plugin_id=ds.plugin_id)
            specs[ds.target or ds.provider].append(spec)
        return specs

    def _record(self, over: list[tuple[str, plugins.Outcome]]) -> None:
        """One ``storage_limit_exceeded`` audit event per plugin over its limit."""
        from worker import audit

        with self.sessions.begin() as session:
            for plugin_id, outcome in over:
                audit.record(
                    session,
                    "storage_limit_exceeded",
                    plugin_id=plugin_id,
                    actor=ACTOR,
                    size_bytes=outcome.size_bytes,
                    limit_bytes=outcome.limit_bytes,
                )

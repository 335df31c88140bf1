"""Storage quotas that hold: measure every plugin, make it read-only over its limit.

``plugin-db quotas enforce`` and the ``plugin_db.quotas_enforce`` beat task measure each ready
plugin with its driver (:meth:`~providers.base.Provider.size_bytes`). Over
``limits.storageMb`` the driver makes every login read-only (writes fail with a permission
or read-only error, reads work); below 95 % of the limit the plugin is writable again. Each
change is audited (``quota_exceeded`` / ``quota_restored``) and kept in ``plugin_quotas``,
which ``doctor`` reports. A plugin still over its limit whose driver no longer reports it
read-only (re-provisioned, or a table created meanwhile) is made read-only again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import PluginSpec, Provider
from providers.registry import get_provider_class
from worker import audit
from worker.errors import PluginDbError, RequestRejected
from worker.events.outbox import emit
from worker.lifecycle.context import spec_for
from worker.manifest import Manifest, parse_manifest
from worker.settings import Settings
from worker.states import DsStatus
from worker.tracking.models import PluginDatasource, PluginQuota, utcnow

MIB = 1024 * 1024
RESUME_RATIO = 0.95


@dataclass
class QuotaCheck:
    """What enforcement found and did for one plugin."""

    plugin_id: str
    size_bytes: int | None = None
    limit_bytes: int | None = None
    read_only: bool = False
    action: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        """JSON form (``--json``, task result)."""
        return asdict(self)


def decide(size: int, limit: int | None, read_only: bool) -> bool:
    """Whether the plugin should be read-only now (hysteresis: writable below 95 %)."""
    if limit is None:
        return False
    if read_only:
        return size >= RESUME_RATIO * limit
    return size > limit


class Quotas:
    """Enforcement over every ready plugin."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings, self.sessions = settings, sessions
        self._providers: dict[str, Provider] = {}

    def _provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = get_provider_class(name).from_settings(self.settings)
        return self._providers[name]

    def enforce(self, plugin_id: str | None = None) -> list[QuotaCheck]:
        """Measure and enforce every ready plugin (or one); returns what happened."""
        with self.sessions() as session:
            query = select(PluginDatasource).where(PluginDatasource.status == DsStatus.READY.value)
            if plugin_id is not None:
                query = query.where(PluginDatasource.plugin_id == plugin_id)
            rows = [(ds.plugin_id, ds.provider, dict(ds.manifest)) for ds in session.scalars(query)]
        return [self._one(pid, provider, manifest) for pid, provider, manifest in rows]

    def _one(self, plugin_id: str, provider_name: str, raw: dict[str, object]) -> QuotaCheck:
        check = QuotaCheck(plugin_id)
        try:
            manifest = parse_manifest(raw)
            provider = self._provider(provider_name)
            spec = spec_for(manifest)
            check.size_bytes = provider.size_bytes(spec)
        except NotImplementedError:
            check.error = f"{provider_name} storage is not measured"
            return check
        except (PluginDbError, RequestRejected) as exc:
            check.error = str(exc)
            return check
        check.limit_bytes = _limit(manifest)
        with self.sessions() as session:
            state = session.get(PluginQuota, plugin_id)
            was = bool(state and state.read_only)
        check.read_only = decide(check.size_bytes, check.limit_bytes, was)
        try:
            check.action = self._apply(provider, manifest, check, was)
        except NotImplementedError:
            check.error, check.read_only = f"{provider_name} cannot be made read-only", was
        except PluginDbError as exc:
            check.error, check.read_only = str(exc), was
        self._record(check, was)
        return check

    def _apply(
        self, provider: Provider, manifest: Manifest, check: QuotaCheck, was: bool
    ) -> str | None:
        spec = spec_for(manifest)
        if check.read_only != was:
            provider.set_read_only(spec, check.read_only)
            return "made_read_only" if check.read_only else "made_writable"
        if check.read_only and not provider.is_read_only(spec):
            provider.set_read_only(spec, True)
            return "read_only_reapplied"
        return None

    def _record(self, check: QuotaCheck, was: bool) -> None:
        with self.sessions.begin() as session:
            state = session.get(PluginQuota, check.plugin_id)
            if state is None:
                state = PluginQuota(plugin_id=check.plugin_id, read_only=False, size_bytes=0)
                session.add(state)
            state.size_bytes = check.size_bytes or 0
            state.limit_bytes, state.checked_at = check.limit_bytes, utcnow()
            if check.read_only != was:
                state.read_only, state.changed_at = check.read_only, utcnow()
            if check.action is not None:
                emit(
                    session,
                    type="quota.exceeded" if check.read_only else "quota.restored",
                    plugin_id=check.plugin_id,
                    operation_id=None,
                    data={"size_bytes": check.size_bytes, "limit_bytes": check.limit_bytes},
                )
                audit.record(
                    session,
                    "quota_exceeded" if check.read_only else "quota_restored",
                    plugin_id=check.plugin_id,
                    actor="quotas",
                    action=check.action,
                    size_bytes=check.size_bytes,
                    limit_bytes=check.limit_bytes,
                )


def apply_timeouts(provider: Provider, spec: PluginSpec) -> str | None:
    """Set the manifest's statement/idle timeouts on the logins; the reason when it cannot."""
    if not provider.issues_credentials:
        return None
    try:
        provider.set_timeouts(spec)
    except NotImplementedError as exc:
        wanted = spec.statement_timeout_ms or spec.idle_in_transaction_timeout_ms
        return str(exc) if wanted else None
    return None


def _limit(manifest: Manifest) -> int | None:
    storage_mb = manifest.database.limits.storage_mb
    return storage_mb * MIB if storage_mb else None
